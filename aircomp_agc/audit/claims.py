"""The quantitative claims of the source text, written down here with their sections.

The source text is ``approximate-gradient-coding.txt``, a textbook section (Section 6.3,
"Approximate Gradient Coding") that started the project. The audit never reads it: each
claim below quotes or paraphrases it in one line, names where it is stated, says how it
is tested and by which rule the measurement becomes a verdict. The measurements are in
:mod:`aircomp_agc.audit.checks`.

Claims name the construction they are about; when the text states a property of its own
construction (the random sparse +/-1 code of its theorem), the verdict is about that
construction, and the evidence says which other code would satisfy it.
"""

from __future__ import annotations

from . import checks
from .base import Claim

__all__ = ["CLAIMS", "NOT_AUDITED", "SOURCE_TEXT", "claim_ids", "get_claim"]

#: The source text the claims come from (named, never read at run time).
SOURCE_TEXT = ("approximate-gradient-coding.txt (textbook Section 6.3, \"Approximate Gradient "
               "Coding\")")

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="exact-storage",
        text="Exact gradient coding needs per-worker storage of s+1 partitions to tolerate s "
             "stragglers (6.3 intro, recalling 6.2).",
        section="Why Trade Exactness for Less Storage",
        test="Decode every straggler set of size s for exact codes (frc, cyclic-mds, crc) at "
             "storage s+1; for codes with storage <= s, silence the holders of the least "
             "replicated partition.",
        rule="holds if storage s+1 decodes every set (max LS error <= 1e-8) and every "
             "storage-s code has a straggler set losing a partition (error >= 1/k).",
        measure=checks.measure_exact_storage,
        verdict=checks.verdict_exact_storage,
    ),
    Claim(
        id="signed-sparse-bound",
        text="Theorem (random sparse encoding): rows with rho N random +/-1 entries and the LS "
             "decoder give E[err] <= O(1/((N-s) rho)).",
        section="Theorem: Approximate Gradient Coding via Random Sparse Encoding",
        test="Monte-Carlo normalized LS decoding error of the signed-sparse code vs row weight "
             "at N=100, s=50 and N=200, s=40 (fresh code every 20 straggler sets); the same "
             "supports with 0/1 entries (bgc) for contrast.",
        rule="fails if the constant C = err (N-s) rho needed by the bound grows more than 10x "
             "from the sparsest to the densest code; holds otherwise.",
        measure=checks.measure_signed_sparse_bound,
        verdict=checks.verdict_signed_sparse_bound,
    ),
    Claim(
        id="doubling-rho",
        text="\"Doubling rho halves the error\" (discussion of the random sparse encoding "
             "theorem).",
        section="Theorem: Approximate Gradient Coding via Random Sparse Encoding",
        test="Ratio err(2w)/err(w) of the signed-sparse code at N=200, s=40 for several w, "
             "with the range implied by the 95% CIs; bgc ratios for contrast.",
        rule="holds if every ratio is in [0.4, 0.6]; fails if none is and some CI range lies "
             "outside; otherwise holds only under the pairs that halve.",
        measure=checks.measure_doubling_rho,
        verdict=checks.verdict_doubling_rho,
    ),
    Claim(
        id="doubling-responders",
        text="\"Doubling N - s also halves the error\" (same discussion).",
        section="Theorem: Approximate Gradient Coding via Random Sparse Encoding",
        test="Signed-sparse error when N - s doubles at fixed rho: N=200 with s 160 -> 120, "
             "and s=40 with N 80 -> 120; bgc for contrast.",
        rule="as for doubling-rho: ratios in [0.4, 0.6] hold.",
        measure=checks.measure_doubling_responders,
        verdict=checks.verdict_doubling_responders,
    ),
    Claim(
        id="storage-scaling",
        text="Theorem: to reach eps set rho = Theta(1/((N-s) eps)); storage rho N = "
             "Theta(1/((1-s/N) eps)), sub-linear in N, O(1) with rho = O(1/N).",
        section="Theorem: Approximate Gradient Coding via Random Sparse Encoding",
        test="Smallest signed-sparse storage meeting eps = 0.1 and 0.05 at s/N = 0.2 for "
             "growing N (storage search with 95% upper confidence bound <= eps); bgc for "
             "contrast.",
        rule="fails if the theorem's code meets no eps at any N and storage <= N; holds if it "
             "meets every one.",
        measure=checks.measure_storage_scaling,
        verdict=checks.verdict_storage_scaling,
    ),
    Claim(
        id="example-n100",
        text="Example N=100, s=50, eps=0.01: approximate coding needs far less storage than "
             "exact coding's s+1 = 51 (text's formula: rho N = N/((N-s) eps)).",
        section="Example: Approximate vs. Exact at N = 100, s = 50",
        test="Smallest storage meeting eps = 0.01 for approx-frc (closed form), bgc, "
             "signed-sparse and (full mode) graph and sgc by Monte Carlo; the text's formulas; "
             "approx-frc's worst-case error.",
        rule="'far less' = at most half of 51: holds if every family does, holds only under "
             "the families that do, fails if none does.",
        measure=checks.measure_example,
        verdict=checks.verdict_example,
    ),
    Claim(
        id="quick-check",
        text="Quick Check (also Definition box, Key Takeaway): random sparse encoding needs "
             "storage Theta(log N / eps) for a fixed straggler fraction.",
        section="Quick Check; Approximate Gradient Coding (definition box); Key Takeaway",
        test="Smallest storage at s/N = 0.2 for N = 50..200 (full: ..400), eps = 0.1, 0.03, "
             "0.01 for signed-sparse, bgc and approx-frc; fit storage ~ (log N)^a eps^-b.",
        rule="fails if the random sparse (+/-1) encoding meets no target; holds if its fitted "
             "a and b are both in [0.5, 1.5]; holds only as an upper bound if below "
             "log N/eps everywhere.",
        measure=checks.measure_quick_check,
        verdict=checks.verdict_quick_check,
    ),
    Claim(
        id="storage-vs-epsilon",
        text="Storage vs error figure (N=200, s/N=0.2) and Key Takeaway: eps -> 0 approaches "
             "exact cost; eps >= 0.01 dramatically lower; eps in [1e-3, 1e-2] drops from "
             "Theta(s).",
        section="Approximate Gradient Coding: Storage vs. Error; Key Takeaway",
        test="Smallest storage vs eps at N=200, s=40: approx-frc by its exact closed form "
             "(down to 1e-12), graph, bgc and signed-sparse by Monte Carlo (eps >= 0.01).",
        rule="a family satisfies it if storage at 0.01 <= (s+1)/4, stays below s+1 in "
             "[1e-3, 1e-2] and never decreases as eps falls; holds if all do, holds only "
             "under those that do, fails if none.",
        measure=checks.measure_storage_vs_epsilon,
        verdict=checks.verdict_storage_vs_epsilon,
    ),
    Claim(
        id="convergence-theorem",
        text="Theorem (L-smooth, mu-strongly convex, step 1/L): E F(w_T) - F* <= "
             "(1-mu/L)^T (F(w_0)-F*) + eps sigma^2/mu for approximate-coded SGD.",
        section="Theorem: Convergence of Approximate-Coded SGD on Smooth Strongly-Convex Loss",
        test="Logistic regression on breast-cancer (k=40 partitions, lambda=0.1) trained "
             "through approx-frc coding (N=40, s=20) with gradient descent and with "
             "batch-1 SGD; eps and sigma^2 measured along the runs; mean suboptimality with "
             "95% CIs over repetitions against the bound every round.",
        rule="fails if a GD run's CI lies above the bound in some round; holds only under "
             "full-batch gradients if only SGD runs do; holds if none does.",
        measure=checks.measure_convergence,
        verdict=checks.verdict_convergence,
    ),
    Claim(
        id="epsilon-floor",
        text="The approximation adds at most an O(eps) asymptotic floor to the suboptimality "
             "(intro and convergence theorem).",
        section="Why Trade Exactness for Less Storage; convergence theorem",
        test="Floor (mean suboptimality over the last third of the rounds) of the coded GD "
             "runs for several eps, of exact GD, and of batch-1 SGD at eps = 0.",
        rule="GD floor must fall at least like eps^0.7 with floor/eps varying < 4x, below "
             "eps sigma^2/mu, exact GD's floor < 0.1x; holds only under full-batch gradients "
             "if SGD keeps a floor at eps = 0.",
        measure=checks.measure_floor,
        verdict=checks.verdict_floor,
    ),
    Claim(
        id="sparsification-100x",
        text="Engineering note: sparsification (Top-K) gives ~100x uplink reduction at 1% "
             "error.",
        section="Engineering Note: Approximate Gradient Coding vs. Sparsification",
        test="Per-device Top-K (aggregation.PerDeviceTopK, 32-bit values + index bits) on real "
             "partition gradients (softmax/digits, logistic/breast-cancer; full: Keras MLP) "
             "at GD rounds 0, 10, 100: smallest K with 1% per-round aggregate error; also "
             "training with top-1% and error feedback.",
        rule="'about 100x' = at least 50x: holds if every gradient allows it at 1% per-round "
             "error; holds only under error feedback if top-1% training (>= 50x bits) loses "
             "<= 1 accuracy point; fails otherwise.",
        measure=checks.measure_sparsification,
        verdict=checks.verdict_sparsification,
    ),
    Claim(
        id="approx-coding-6x",
        text="Engineering note: approximate coding gives ~6x storage reduction at 1% error.",
        section="Engineering Note: Approximate Gradient Coding vs. Sparsification",
        test="(s+1)/storage of the best approximate code meeting 1%: isotropic error for "
             "N=100 with s/N = 0.1-0.5 and N=200, s=40; realized error on logistic and softmax "
             "partition gradients (k=N=100) at GD rounds 0, 30, 300 for s = 20, 50.",
        rule="'about 6x' = 3x to 12x: holds if every setting gives it, holds only under the "
             "settings that do, fails if none.",
        measure=checks.measure_six_x,
        verdict=checks.verdict_six_x,
    ),
)

#: Statements of the source text the audit does not measure, and why.
NOT_AUDITED: tuple[tuple[str, str], ...] = (
    ("\"For deep learning where gradient noise already dominates, the loss is often "
     "negligible\" (intro, convergence discussion)",
     "qualitative, no number; the convergence bounds do not apply to non-convex models "
     "(learning.bounds.applicable says so)."),
    ("\"Practical deployments target eps in [1e-3, 1e-2] for ImageNet-scale models\"",
     "a statement about practice, not measurable with this toolkit."),
    ("\"Production federated-learning systems (Apple's PrivateFL, NVIDIA Flare CodedFL) "
     "sometimes layer both\"",
     "a statement about products; not checkable offline (we could not confirm these "
     "product names)."),
    ("\"Combined: hard to characterize formally but works empirically\"",
     "no number is claimed."),
    ("\"eps = 0 recovers exact gradient coding\" (definition)",
     "true by definition (an exact code has zero error for every straggler set of size s; "
     "see exact-storage)."),
)


def claim_ids() -> list[str]:
    """The ids of :data:`CLAIMS`, in report order."""
    return [c.id for c in CLAIMS]


def get_claim(claim_id: str) -> Claim:
    """The claim named ``claim_id``."""
    for c in CLAIMS:
        if c.id == claim_id:
            return c
    raise ValueError(f"The 'claim_id' parameter must be one of {', '.join(claim_ids())}; got "
                     f"{claim_id!r}.")
