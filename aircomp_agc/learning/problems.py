"""Training problems with per-partition gradients in one pass over the data.

Every problem has a training loss ``F(w)`` that is a **sum of partition losses**,
``F = sum_j F_j``, so the ``k`` rows of :meth:`Problem.partition_gradients` add up to
``grad F``. Losses are means over the ``N`` training samples plus an L2 regularizer, and
the regularizer is shared among partitions in proportion to their sizes
(``F_j = (1/N) sum_{i in j} loss_i(w) + (N_j / N) (lambda / 2) ||w||^2``).

Convex problems (``w`` includes a bias: a column of ones is appended to the features and
regularized like the other weights, so the problems are strongly convex):

- ``"ridge"``: ``F(w) = (1/2N) ||X w - y||^2 + (lambda/2) ||w||^2``; ``L``, ``mu`` are the
  extreme eigenvalues of ``X^T X / N + lambda I``; ``w*`` in closed form.
- ``"logistic"`` (labels ``y in {0, 1}``, ``s = 2y - 1``):
  ``F(w) = (1/N) sum_i log(1 + exp(-s_i x_i^T w)) + (lambda/2) ||w||^2``;
  ``L = lambda_max(X^T X) / (4N) + lambda``, ``mu = lambda``; ``F*`` by Newton's method.
- ``"softmax"`` (``C`` classes, ``W`` is ``[d, C]`` flattened row-major):
  ``F(W) = (1/N) sum_i (logsumexp(x_i^T W) - x_i^T W_{:, y_i}) + (lambda/2) ||W||_F^2``;
  ``L = lambda_max(X^T X) / (2N) + lambda`` (the softmax Hessian block is at most 1/2),
  ``mu = lambda``; ``F*`` by L-BFGS.

``F*`` comes with :attr:`Problem.f_star_tol`, a bound on ``F(w_hat) - F*`` from the final
gradient norm, ``||grad F||^2 / (2 mu)`` (strong convexity).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, log_expit, logsumexp, softmax

from .._blas import single_thread_blas as _single_thread_blas
from .._checks import check_real, resolve_rng, suggest
from .data import Dataset, load_dataset
from .partition import partition

__all__ = ["PROBLEMS", "LinearProblem", "Problem", "make_problem"]

#: Problem names -> (task the data must have, dataset used when none is given).
PROBLEMS = {
    "ridge": ("regression", "diabetes"),
    "logistic": ("binary", "breast-cancer"),
    "softmax": ("multiclass", "digits"),
    "mlp": ("multiclass", "digits"),
    "cnn": ("multiclass", "digits"),
}


class Problem:
    """Interface of a training problem (see :class:`LinearProblem`)."""

    name: str = ""
    convex: bool = True
    dim: int
    n_partitions: int
    L: float | None = None
    mu: float | None = None
    f_star: float | None = None
    f_star_tol: float | None = None

    def loss(self, w):  # pragma: no cover - interface
        raise NotImplementedError

    def partition_gradients(self, w, *, per_partition: bool = False):  # pragma: no cover
        raise NotImplementedError

    def test_accuracy(self, w):  # pragma: no cover - interface
        raise NotImplementedError

    def initial(self, reps: int | None = None, *, rng=None) -> np.ndarray:
        """Starting point ``w_0``: zeros, ``[dim]`` or ``[reps, dim]``."""
        return np.zeros(self.dim) if reps is None else np.zeros((reps, self.dim))


class LinearProblem(Problem):
    """Ridge, logistic or softmax regression on partitioned data (module docstring).

    Parameters
    ----------
    kind : {"ridge", "logistic", "softmax"}
    data : Dataset
    assignment : int [N]
        Partition of each training sample (``0..k-1``).
    reg : float > 0
        ``lambda``.
    """

    def __init__(self, kind: str, data: Dataset, assignment: np.ndarray, reg: float) -> None:
        self.name = kind
        self.data = data
        self.reg = check_real("reg", reg, low=0.0, low_open=True, owner="make_problem")
        order = np.argsort(assignment, kind="stable")
        X = np.hstack([data.X_train, np.ones((data.X_train.shape[0], 1))])[order]
        self.X = np.ascontiguousarray(X)
        self.y = data.y_train[order]
        self.assignment = np.asarray(assignment)[order]
        self.n_partitions = int(self.assignment.max()) + 1
        self.sizes = np.bincount(self.assignment, minlength=self.n_partitions)
        self.X_test = np.hstack([data.X_test, np.ones((data.X_test.shape[0], 1))])
        self.n_samples, self.n_features = self.X.shape
        self.n_outputs = data.n_classes if kind == "softmax" else 1
        self.dim = self.n_features * self.n_outputs
        eig = np.linalg.eigvalsh(self.X.T @ self.X / self.n_samples)
        curvature = {"ridge": 1.0, "logistic": 0.25, "softmax": 0.5}[kind]
        self.L = float(curvature * eig[-1] + self.reg)
        self.mu = float((eig[0] if kind == "ridge" else 0.0) + self.reg)
        if kind == "softmax":
            self._onehot = np.eye(self.n_outputs)[self.y]
        self._optimum: tuple[np.ndarray, float, float] | None = None

    # ----------------------------------------------------------------- optimum (lazy)
    def _solved(self) -> tuple[np.ndarray, float, float]:
        """``(w*, F*, tol)``, solved on first use: large problems that never need the
        optimum (benchmarks, training without suboptimality) skip the solve."""
        if self._optimum is None:
            self._optimum = self._solve()
        return self._optimum

    @property
    def w_star(self) -> np.ndarray:
        """The minimizer ``w*``."""
        return self._solved()[0]

    @property
    def f_star(self) -> float:
        """``F* = F(w*)``."""
        return self._solved()[1]

    @property
    def f_star_tol(self) -> float:
        """Bound on ``F(w_hat) - F*`` from the final gradient, ``||grad F||^2 / (2 mu)``."""
        return self._solved()[2]

    # ----------------------------------------------------------------- model maths
    def _w(self, w) -> np.ndarray:
        w = np.asarray(w, dtype=np.float64)
        if w.shape[-1] != self.dim:
            raise ValueError(f"The 'w' parameter must have {self.dim} entries on its last axis; "
                             f"got shape {w.shape}.")
        return w

    def _scores(self, X: np.ndarray, w: np.ndarray) -> np.ndarray:
        """``z = X w``: [..., N] (scalar outputs) or [..., N, C]."""
        if self.n_outputs == 1:
            return w @ X.T
        C = self.n_outputs
        if w.ndim == 1:
            return X @ w.reshape(self.n_features, C)
        # one BLAS product for every model at once: X [N, d] @ [d, R C]
        W = np.moveaxis(w.reshape(-1, self.n_features, C), 0, 1).reshape(self.n_features, -1)
        Z = np.moveaxis((X @ W).reshape(X.shape[0], -1, C), 0, 1)
        return Z.reshape(*w.shape[:-1], X.shape[0], C)

    def _sample_losses(self, z: np.ndarray) -> np.ndarray:
        if self.name == "ridge":
            return 0.5 * (z - self.y) ** 2
        if self.name == "logistic":
            return -log_expit((2.0 * self.y - 1.0) * z)
        return logsumexp(z, axis=-1) - np.sum(z * self._onehot, axis=-1)

    def _residual(self, z: np.ndarray, rows: slice = slice(None)) -> np.ndarray:
        """``d loss_i / d z_i`` of the samples ``rows``: [..., n] or [..., n, C]."""
        if self.name == "ridge":
            return z - self.y[rows]
        if self.name == "logistic":
            s = 2.0 * self.y[rows] - 1.0
            return -s * expit(-s * z)
        return softmax(z, axis=-1) - self._onehot[rows]

    def loss(self, w) -> np.ndarray:
        """``F(w)``, the full training loss including the regularizer: [...]."""
        w = self._w(w)
        data = self._sample_losses(self._scores(self.X, w)).mean(axis=-1)
        return data + 0.5 * self.reg * np.sum(w * w, axis=-1)

    def gradient(self, w) -> np.ndarray:
        """``grad F(w)``: [..., dim]."""
        w = self._w(w)
        r = self._residual(self._scores(self.X, w))
        if self.n_outputs == 1:
            g = r @ self.X
        else:
            g = np.einsum("...nc,nd->...dc", r, self.X).reshape(*w.shape[:-1], self.dim)
        return g / self.n_samples + self.reg * w

    def partition_gradients(self, w, *, per_partition: bool = False) -> np.ndarray:
        """Gradients of the partition losses ``F_j``: they add up to ``grad F``.

        One pass over the data (no Python loop over partitions): the samples are stored
        sorted by partition and processed in cache-sized chunks of rows
        (:attr:`chunk_bytes`); for each chunk, its scores and residuals, then one sparse
        product that sums ``x_i r_i`` within every partition the chunk touches, while the
        chunk is still in cache. BLAS runs on one thread inside the pass (OpenBLAS threads
        on small products are slow on a shared machine): the whole costs about one
        full-batch gradient, which reads the data twice.

        Parameters
        ----------
        w : float [dim] or [R, dim]; with ``per_partition``, [k, dim] or [R, k, dim]
            The model (or each partition's own model, for local updates).

        Returns
        -------
        float [k, dim] or [R, k, dim]
        """
        w = self._w(w)
        k = self.n_partitions
        squeeze = w.ndim == (2 if per_partition else 1)
        W = w[None] if squeeze else w  # [R, dim] or [R, k, dim]
        R = W.shape[0]
        if per_partition:
            if W.shape[1] != k:
                raise ValueError(f"The 'w' parameter with per_partition=True must have {k} "
                                 f"rows (one per partition); got shape {w.shape}.")
            ws = W[:, self.assignment]  # [R, N, dim]: each sample's partition model
            if self.n_outputs == 1:
                z = np.einsum("rnd,nd->rn", ws, self.X)
            else:
                Wm = ws.reshape(R, self.n_samples, self.n_features, self.n_outputs)
                z = np.einsum("rndc,nd->rnc", Wm, self.X)
            reg = self.reg * (self.sizes / self.n_samples)[None, :, None] * W
            r = self._residual(z).reshape(R, self.n_samples, self.n_outputs)
            G = self._segment_sums(r, self.X, self.sizes)
            G = G.reshape(R, k, self.dim) / self.n_samples + reg
        else:
            # start from the regularizer's share and add the data terms in place
            G = self.reg * (self.sizes / self.n_samples)[None, :, None] * W[:, None, :]
            self._fused_segment_sums(W, G.reshape(R, k, self.n_features, self.n_outputs))
        return G[0] if squeeze else G

    #: Bytes of feature rows per chunk of the fused pass of :meth:`partition_gradients`.
    chunk_bytes: int = 16 * 2**20

    def _fused_segment_sums(self, W: np.ndarray, out: np.ndarray) -> None:
        """Add ``(1/N) sum_{i in j} x_i r_i(w)^T`` for models ``W`` [R, dim] to ``out``
        [R, k, d, C]."""
        R, N, C = W.shape[0], self.n_samples, self.n_outputs
        starts = np.concatenate([[0], np.cumsum(self.sizes)])
        rows = max(1, self.chunk_bytes // (self.X.itemsize * self.n_features))
        with _single_thread_blas():
            for a in range(0, N, rows):  # chunks of samples (their number is not k)
                b = min(a + rows, N)
                Xc = self.X[a:b]
                r = self._residual(self._scores(Xc, W), slice(a, b)).reshape(R, b - a, C)
                r *= 1.0 / N
                pa, pb = int(self.assignment[a]), int(self.assignment[b - 1]) + 1
                sizes = np.diff(np.clip(starts[pa:pb + 1], a, b))
                out[:, pa:pb] += self._segment_sums(r, Xc, sizes)

    def _segment_sums(self, r: np.ndarray, X: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        """``sum_{i in j} x_i r_i^T`` per repetition and partition: [R, p, d, C].

        ``r`` [R, n, C] and ``X`` [n, d] are consecutive samples, sorted by partition, that
        fall ``sizes`` [p] to each of ``p`` consecutive partitions: row
        ``(rep, output, partition)`` of a sparse ``[R C p, n]`` matrix holds ``r_i`` on one
        contiguous run of samples, so the CSR arrays are written directly (no COO sort) and
        one sparse-dense product with ``X`` does every sum.
        """
        R, n, C = r.shape
        p = sizes.size
        indptr = np.concatenate([[0], np.cumsum(np.tile(sizes, R * C))])
        indices = np.tile(np.arange(n, dtype=indptr.dtype), R * C)
        P = sp.csr_matrix((np.ascontiguousarray(np.moveaxis(r, -1, 1)).ravel(), indices,
                           indptr), shape=(R * C * p, n))
        G = np.asarray(P @ X).reshape(R, C, p, X.shape[1])
        return np.moveaxis(G, 1, -1)

    def minibatch_partition_gradients(self, w, batch_size: int, *, rng=None) -> np.ndarray:
        """Unbiased mini-batch estimates of the partition gradients, [R, k, dim].

        Each partition draws ``batch_size`` of its samples with replacement; the data part
        is scaled by ``N_j / batch_size`` so its expectation is the partition gradient.
        """
        w = self._w(w)
        W = w[None] if w.ndim == 1 else w
        gen = resolve_rng(rng)
        k, b = self.n_partitions, batch_size
        starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        R = W.shape[0]  # every repetition draws its own mini-batches
        idx = starts[None, :, None] + (gen.random((R, k, b))
                                       * self.sizes[None, :, None]).astype(np.int64)
        Xb = self.X[idx]  # [R, k, b, d]
        if self.n_outputs == 1:
            z = np.einsum("rkbd,rd->rkb", Xb, W)
        else:
            Wm = W.reshape(-1, self.n_features, self.n_outputs)
            z = np.einsum("rkbd,rdc->rkbc", Xb, Wm)
        y_saved = self.y
        try:  # residuals of the drawn samples (the link functions read self.y)
            self.y = y_saved[idx]
            if self.name == "softmax":
                onehot, self._onehot = self._onehot, self._onehot[idx]
            r = self._residual(z)
        finally:
            self.y = y_saved
            if self.name == "softmax":
                self._onehot = onehot
        scale = (self.sizes / b / self.n_samples)[None, :, None]
        if self.n_outputs == 1:
            G = np.einsum("rkb,rkbd->rkd", r, Xb)
        else:
            G = np.einsum("rkbc,rkbd->rkdc", r, Xb).reshape(R, k, self.dim)
        G = G * scale + self.reg * (self.sizes / self.n_samples)[None, :, None] * W[:, None]
        return G[0] if w.ndim == 1 else G

    def test_accuracy(self, w) -> np.ndarray:
        """Accuracy on the test split (classification) or ``R^2`` (regression): [...]."""
        w = self._w(w)
        z = self._scores(self.X_test, w)
        y = self.data.y_test
        if self.name == "ridge":
            return 1.0 - np.mean((z - y) ** 2, axis=-1) / np.var(y)
        pred = (z > 0).astype(int) if self.name == "logistic" else z.argmax(-1)
        return np.mean(pred == y, axis=-1)

    # ----------------------------------------------------------------- optimum
    def _solve(self):
        n = self.n_samples
        if self.name == "ridge":
            A = self.X.T @ self.X / n + self.reg * np.eye(self.dim)
            w = np.linalg.solve(A, self.X.T @ self.y / n)
        elif self.name == "logistic":
            w = np.zeros(self.dim)
            for _ in range(100):  # Newton's method (d is small): quadratic convergence
                z = self.X @ w
                p = expit(z)
                H = (self.X.T * (p * (1 - p))) @ self.X / n + self.reg * np.eye(self.dim)
                step = np.linalg.solve(H, self.gradient(w))
                w = w - step
                if np.linalg.norm(step) < 1e-13 * max(1.0, np.linalg.norm(w)):
                    break
        else:
            from scipy.optimize import minimize

            res = minimize(lambda v: float(self.loss(v)), np.zeros(self.dim),
                           jac=lambda v: self.gradient(v), method="L-BFGS-B",
                           options={"gtol": 1e-11, "ftol": 0.0, "maxiter": 20000,
                                    "maxcor": 30})
            w = res.x
        g = self.gradient(w)
        tol = float(g @ g / (2.0 * self.mu))
        return w, float(self.loss(w)), tol


def make_problem(name: str, *, dataset: str | Dataset | None = None, n_partitions: int = 20,
                 partition: str = "iid", alpha: float = 0.5, reg: float = 1e-2,
                 test_size: float = 0.25, rng=None, **dataset_params) -> Problem:
    """Build a training problem on partitioned data.

    Parameters
    ----------
    name : {"ridge", "logistic", "softmax", "mlp", "cnn"}
        ``"mlp"`` and ``"cnn"`` are Keras models (non-convex; TensorFlow is imported then).
    dataset : str or Dataset, optional
        A name of :data:`aircomp_agc.learning.data.DATASETS` (default: the problem's usual
        one) or a loaded :class:`Dataset`.
    n_partitions : int
        ``k``: the units the gradient code assigns to workers.
    partition : {"iid", "dirichlet", "quantity", "natural"}
    alpha : float
        Dirichlet concentration for skewed partitions.
    reg : float > 0
        L2 regularization ``lambda``.
    rng : None, int, SeedSequence or Generator
        Split, partition (and model initialization) randomness.
    **dataset_params
        Passed to :func:`load_dataset` (e.g. ``condition_number`` for ``"linear"``).
    """
    if name not in PROBLEMS:
        raise ValueError(f"The 'name' parameter of make_problem must be one of "
                         f"{', '.join(map(repr, PROBLEMS))}; got {name!r}."
                         f"{suggest(name, PROBLEMS)}")
    task, default = PROBLEMS[name]
    g_data, g_part, g_model = resolve_rng(rng).spawn(3)
    data = dataset if isinstance(dataset, Dataset) else load_dataset(
        dataset or default, test_size=test_size, rng=g_data, **dataset_params)
    ok = {"ridge": ("regression",), "logistic": ("binary",),
          "softmax": ("binary", "multiclass"), "mlp": ("binary", "multiclass"),
          "cnn": ("binary", "multiclass")}[name]
    if data.task not in ok:
        raise ValueError(f"The 'dataset' parameter of make_problem({name!r}) must be a "
                         f"{' or '.join(ok)} dataset; got {data.name!r} ({data.task}).")
    if n_partitions > data.X_train.shape[0]:
        raise ValueError(f"The 'n_partitions' parameter of make_problem must be at most the "
                         f"{data.X_train.shape[0]} training samples of {data.name!r}; got "
                         f"{n_partitions}.")
    assign = partition_fn(data.y_train, n_partitions, partition, alpha=alpha,
                          groups=data.groups, rng=g_part)
    if name in ("mlp", "cnn"):
        from .keras_models import KerasProblem

        return KerasProblem(name, data, assign, reg=reg, rng=g_model)
    if name == "softmax" and data.task == "binary":
        warnings.warn("softmax regression on a binary dataset: logistic is the same model "
                      "with half the parameters.", UserWarning, stacklevel=2)
    return LinearProblem(name, data, assign, reg)


partition_fn = partition


