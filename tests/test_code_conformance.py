"""Conformance suite: every registered code and straggler model passes check_code /
check_straggler_model, and the checks catch deliberately broken entries."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from aircomp_agc.coding import (
    CODES,
    STRAGGLERS,
    Code,
    list_codes,
    list_stragglers,
    make_code,
    make_stragglers,
    register_code,
)
from aircomp_agc.coding.stragglers import (
    BernoulliStragglers,
    StragglerModel,
    straggler_tags,
)
from aircomp_agc.coding.testing import (
    ConformanceError,
    check_code,
    check_straggler_model,
)

# Small parameters for every registered code (exhaustive checks need small n). A new
# registration must add its example here: test_every_code_has_an_example fails otherwise.
CODE_EXAMPLES = {
    "approx-frc": dict(n=14, row_weight=4),  # 4 does not divide 14: groups 4, 4, 3, 3
    "bgc": dict(n=12, row_weight=3),
    "bibd": dict(n=13),
    "crc": dict(n=12, s=3),
    "cyclic-mds": dict(n=12, s=4),  # n - s even: the two-block construction
    "frc": dict(n=12, s=3),
    "graph": dict(n=12, row_weight=3),
    "sgc": dict(n=12, row_weight=3, p=0.2),
    "signed-sparse": dict(n=12, row_weight=3),
    "uncoded": dict(n=10),
}

STRAGGLER_EXAMPLES = {
    "adversarial": [dict(s=3, code=make_code("approx-frc", n=12, row_weight=2))],
    "bernoulli": [dict(p=0.3)],
    "fixed": [dict(s=3), dict(s=0)],
    "markov": [dict(p_fast_to_slow=0.2, p_slow_to_fast=0.5)],
    "shifted-exponential": [
        dict(rate=1.5, shift=0.2, deadline=0.9),
        dict(rate=2.0, wait_for=8),
        dict(rate=np.linspace(0.5, 3.0, 12), wait_for=8),  # no closed-form marginal
    ],
}


def test_every_code_has_an_example():
    assert set(CODE_EXAMPLES) == {e.name for e in list_codes()}


def test_every_straggler_model_has_an_example():
    assert set(STRAGGLER_EXAMPLES) == {e.name for e in list_stragglers()}


@pytest.mark.parametrize("entry", list_codes(), ids=lambda e: e.name)
def test_registered_code_conforms(entry):
    report = check_code(entry.name, **CODE_EXAMPLES[entry.name])
    for check in ("contract", "finite", "storage", "determinism", "rng", "tags"):
        assert report.ran(check), (entry.name, check)
    if entry.tags["family"] == "exact":
        exact = next(c for c in report.checks if c.startswith("exact"))
        assert exact.startswith("exact: all"), exact  # exhaustive, not sampled
    assert report.ran("closed_form") == (entry.tags["closed_form"] is not None)
    assert report.ran("replica_groups") == entry.tags["replica_groups"]


@pytest.mark.parametrize(
    ("name", "params"),
    [(name, params) for name, cases in STRAGGLER_EXAMPLES.items() for params in cases],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_registered_straggler_model_conforms(name, params):
    model = make_stragglers(name, **params)
    report = check_straggler_model(model)
    tags = straggler_tags(model)  # the registration's, refined by the configuration
    assert report.ran("signature") and report.ran("determinism") and report.ran("rng")
    assert report.ran("batch_independence") == tags["randomized"]
    assert report.ran("marginal") == tags["marginal"]
    if params == {"s": 0}:  # nobody straggles: nothing is random
        assert tags["randomized"] is False and STRAGGLERS.tags(name)["randomized"] is True
    if np.ndim(params.get("rate", 0.0)):  # wait-for with per-worker rates
        assert tags["marginal"] is False and STRAGGLERS.tags(name)["marginal"] is True


def test_a_factory_with_tags_passes_without_registration():
    def identity(*, n):
        return Code("identity", sp.identity(n, format="csr"), params={"n": n}, exact_s=0,
                    groups=np.arange(n))

    before = CODES.names()
    report = check_code(identity, tags={"family": "baseline", "replica_groups": True}, n=5)
    assert report.ran("replica_groups") and report.ran("exact") and CODES.names() == before


# ----------------------------------------------------------------------------- broken codes


def _ones(n, w, rng=None):
    """0/1 rows of weight w at random positions (global-free: uses its rng)."""
    gen = np.random.default_rng(rng)
    cols = np.argsort(gen.random((n, n)), axis=1)[:, :w]
    return sp.csr_matrix((np.ones(n * w), (np.repeat(np.arange(n), w), cols.ravel())),
                         shape=(n, n))


def _unseeded(*, n, rng=None):
    # ignores its rng: a fresh code on every call
    return Code("unseeded", _ones(n, 2, np.random.SeedSequence().entropy), params={"n": n})


def _ignores_rng(*, n, rng=None):
    return Code("ignores-rng", _ones(n, 2, 0), params={"n": n})


def _depends_on_rng(*, n, rng=None):
    return Code("depends-on-rng", _ones(n, 2, rng), params={"n": n})


def _nan_entry(*, n):
    B = sp.identity(n, format="csr") * 1.0
    B.data[0] = np.nan
    return Code("nan", B, params={"n": n})


def _false_exact(*, n, s):
    return Code("false-exact", sp.identity(n, format="csr"), params={"n": n, "s": s}, exact_s=s)


def _false_groups(*, n):
    return Code("false-groups", _ones(n, 2, 0), params={"n": n})


def _untagged_groups(*, n):
    return Code("untagged-groups", sp.identity(n, format="csr"), groups=np.arange(n))


def _groups_none(*, n):
    return Code("groups-none", sp.identity(n, format="csr"))


def _wrong_closed_form(code, stragglers):
    return 0.5  # uncoded with s of n stragglers has error s/n


def _wrong_shape(*, n):
    return Code("wrong-shape", sp.identity(n - 1, format="csr"), params={"n": n})


@pytest.mark.parametrize(
    ("factory", "tags", "params", "check"),
    [
        (_unseeded, {"randomized": True}, {"n": 8}, "determinism"),
        (_ignores_rng, {"randomized": True}, {"n": 8}, "rng"),
        (_depends_on_rng, {"randomized": False}, {"n": 8}, "rng"),
        (_nan_entry, {}, {"n": 5}, "finite"),
        (_false_exact, {"family": "exact", "storage_param": "s"}, {"n": 6, "s": 1}, "tags"),
        (_false_exact, {"family": "approximate"}, {"n": 6, "s": 1}, "exact"),
        (_false_groups, {"replica_groups": True}, {"n": 8}, "replica_groups"),
        (_untagged_groups, {}, {"n": 8}, "tags"),
        (_groups_none, {"replica_groups": True}, {"n": 8}, "replica_groups"),
        (_wrong_shape, {}, {"n": 5}, "contract"),
        (_ignores_rng, {"storage_param": "row_weight"}, {"n": 8}, "tags"),
    ],
)
def test_conformance_catches_broken_codes(factory, tags, params, check):
    with pytest.raises(ConformanceError, match=rf"check '{check}' failed"):
        check_code(factory, tags=tags, **params)


def test_conformance_catches_a_wrong_closed_form_of_a_registered_code():
    name = "test-wrong-closed-form"

    def uncoded_copy(*, n):
        return Code(name, sp.identity(n, format="csr"), params={"n": n}, exact_s=0)

    register_code(name, family="baseline", closed_form=_wrong_closed_form)(uncoded_copy)
    try:
        with pytest.raises(ConformanceError, match=r"check 'closed_form' failed: 0\.5 under "
                                                   r"FixedStragglers\(s=0\)"):
            check_code(name, n=8)
    finally:
        CODES.unregister(name)
    assert name not in CODES


def test_a_closed_form_that_never_applies_is_reported():
    def never(code, stragglers):
        return None

    def uncoded_copy(*, n):
        return Code("never", sp.identity(n, format="csr"), params={"n": n})

    with pytest.raises(ConformanceError, match=r"'closed_form' failed: tagged, but it "
                                               r"returned None"):
        check_code(uncoded_copy, tags={"closed_form": never}, n=6)


def test_check_code_refuses_an_rng_parameter():
    with pytest.raises(ValueError, match=r"'rng' parameter of check_code is reserved"):
        check_code("bgc", n=12, row_weight=3, rng=0)


# ----------------------------------------------------------------------------- broken models


class _OldSignature(StragglerModel):
    name = "old-signature"

    def sample(self, n_workers, batch=1, rng=None):
        return np.random.default_rng(rng).random((batch, n_workers)) >= 0.2


class _IntMasks(StragglerModel):
    name = "int-masks"

    def sample(self, batch, n_workers, *, rng=None):
        return (np.random.default_rng(rng).random((batch, n_workers)) >= 0.2).astype(int)


class _WrongMarginal(BernoulliStragglers):
    tags = {"randomized": True, "marginal": True}

    def response_probability(self, n_workers):
        return np.full(n_workers, self.p)  # should be 1 - p


class _RepeatedRow(StragglerModel):
    name = "repeated-row"
    tags = {"randomized": True}

    def sample(self, batch, n_workers, *, rng=None):
        row = np.random.default_rng(rng).random(n_workers) >= 0.5
        return np.repeat(row[None, :], batch, axis=0)  # one draw for the whole batch


class _Unseeded(StragglerModel):
    name = "unseeded"
    tags = {"randomized": True}

    def sample(self, batch, n_workers, *, rng=None):
        return np.random.default_rng().random((batch, n_workers)) >= 0.5


class _ClaimsDeterministic(StragglerModel):
    name = "claims-deterministic"
    tags = {"randomized": False}

    def sample(self, batch, n_workers, *, rng=None):
        return np.random.default_rng(rng).random((batch, n_workers)) >= 0.5


@pytest.mark.parametrize(
    ("model", "check"),
    [
        (_OldSignature(), "signature"),
        (_IntMasks(), "shape"),
        (_WrongMarginal(p=0.2), "marginal"),
        (_RepeatedRow(), "batch_independence"),
        (_Unseeded(), "determinism"),
        (_ClaimsDeterministic(), "rng"),
    ],
    ids=lambda x: type(x).__name__ if not isinstance(x, str) else x,
)
def test_conformance_catches_broken_straggler_models(model, check):
    with pytest.raises(ConformanceError, match=rf"check '{check}' failed"):
        check_straggler_model(model)
