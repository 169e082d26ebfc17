"""Code registry: tags, Entry records, parameter errors, rng for every code, closed forms."""

from __future__ import annotations

import subprocess
import sys
from math import comb

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import binom

import aircomp_agc.coding as coding
from aircomp_agc._checks import Entry
from aircomp_agc.coding import CODES, Code, code_tags, list_codes, make_code, register_code
from aircomp_agc.coding.codes.bibd import bibd_lstsq_error
from aircomp_agc.coding.codes.frc import approx_frc_expected_error
from aircomp_agc.coding.registry import code_family
from aircomp_agc.coding.stragglers import make_stragglers

# (family, randomized, storage_param, replica_groups, has a closed form) of the built-ins
BUILTIN_TAGS = {
    "approx-frc": ("approximate", False, "row_weight", True, True),
    "bgc": ("approximate", True, "row_weight", False, False),
    "bibd": ("approximate", False, None, False, True),
    "crc": ("exact", True, "s", False, True),
    "cyclic-mds": ("exact", False, "s", False, True),
    "frc": ("exact", False, "s", True, True),
    "graph": ("approximate", True, "row_weight", False, False),
    "sgc": ("approximate", True, "row_weight", False, False),
    "signed-sparse": ("approximate", True, "row_weight", False, False),
    "uncoded": ("baseline", False, None, True, True),
}

# Smallest sensible parameters of every built-in, for sweeps over all names.
EXAMPLES = {
    "approx-frc": dict(n=12, row_weight=3),
    "bgc": dict(n=12, row_weight=3),
    "bibd": dict(n=13),
    "crc": dict(n=12, s=3),
    "cyclic-mds": dict(n=12, s=3),
    "frc": dict(n=12, s=3),
    "graph": dict(n=12, row_weight=3),
    "sgc": dict(n=12, row_weight=3, p=0.2),
    "signed-sparse": dict(n=12, row_weight=3),
    "uncoded": dict(n=12),
}


def test_public_api_exports():
    expected = {
        "Code", "make_code", "list_codes", "register_code", "code_tags", "CODES", "decode",
        "decoding_error", "decoding_errors", "realized_error", "NotDecodableError",
        "Estimate", "mean_ci",
    }
    assert expected <= set(coding.__all__)
    for name in coding.__all__:
        assert hasattr(coding, name), name


def test_list_codes_returns_entries_sorted_by_name_with_tags():
    entries = list_codes()
    assert all(isinstance(e, Entry) for e in entries)
    names = [e.name for e in entries]
    assert names == sorted(names) and set(BUILTIN_TAGS) <= set(names)
    by_name = {e.name: e for e in entries}
    for name, (family, randomized, storage, groups, closed) in BUILTIN_TAGS.items():
        tags = by_name[name].tags
        assert (tags["family"], tags["randomized"], tags["storage_param"],
                tags["replica_groups"], tags["closed_form"] is not None) == (
            family, randomized, storage, groups, closed), name
        assert code_family(name) == family and code_tags(name) == tags
    assert "Tandon" in by_name["frc"].summary and "Raviv" in by_name["cyclic-mds"].summary
    frc_params = {p.name: p for p in by_name["frc"].parameters}
    assert set(frc_params) == {"n", "s"} and frc_params["s"].required
    bgc_params = {p.name: p for p in by_name["bgc"].parameters}
    assert bgc_params["model"].default == "fixed" and not bgc_params["model"].required


def test_one_seed_drives_a_sweep_over_every_code_name():
    """make_code takes rng for every code; deterministic ones ignore it."""
    assert set(EXAMPLES) == set(CODES.names())
    for name, params in EXAMPLES.items():
        a, b = make_code(name, **params, rng=3), make_code(name, **params, rng=4)
        assert (a.B != make_code(name, **params, rng=3).B).nnz == 0, name
        if not code_tags(name)["randomized"]:
            assert (a.B != b.B).nnz == 0 and (a.B != make_code(name, **params).B).nnz == 0


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_unknown_or_missing_parameters_list_the_accepted_ones(name):
    accepted = [p.name for p in CODES.parameters(name)]
    with pytest.raises(ValueError, match=rf"The code '{name}' has no parameter 'sizee'; "
                                         rf"accepted: {', '.join(accepted)}"):
        make_code(name, **EXAMPLES[name], sizee=3)
    missing = dict(EXAMPLES[name])
    del missing["n"]
    with pytest.raises(ValueError, match=rf"The code '{name}' requires the parameter\(s\) 'n'"
                                         r".*Accepted: n \(required\)"):
        make_code(name, **missing)


def test_sgc_without_p_names_p():
    with pytest.raises(ValueError, match=r"code 'sgc' requires the parameter\(s\) 'p'"):
        make_code("sgc", n=10, row_weight=2)


@pytest.mark.parametrize(
    "typo, suggestion", [("frx", "frc"), ("cyclic_mds", "cyclic-mds"), ("uncode", "uncoded")]
)
def test_unknown_code_suggests_close_names(typo, suggestion):
    with pytest.raises(
        ValueError,
        match=rf"Unknown code '{typo}'; available: .*frc.*"
        rf"Did you mean .*'{suggestion}'",
    ):
        make_code(typo, n=12, s=3)


@pytest.mark.parametrize("name", ["frc", "crc", "cyclic-mds", "approx-frc", "uncoded"])
def test_bad_n(name):
    params = dict(EXAMPLES[name], n=0)
    with pytest.raises(
        ValueError,
        match=rf"'n' parameter of make_code\('{name}'\) must be an "
        r"int in \[1, inf\); got 0",
    ):
        make_code(name, **params)
    with pytest.raises(TypeError, match=r"'n' parameter.*got str '12'"):
        make_code(name, **dict(EXAMPLES[name], n="12"))


@pytest.mark.parametrize("name", ["frc", "crc", "cyclic-mds"])
@pytest.mark.parametrize("s", [12, 13, -1])
def test_bad_s(name, s):
    params = dict(EXAMPLES[name], s=s)
    with pytest.raises(
        ValueError,
        match=rf"'s' parameter of make_code\('{name}'\) must be an "
        rf"int in \[0, 11\]; got {s}",
    ):
        make_code(name, **params)


def test_codes_are_frozen():
    code = make_code("frc", n=12, s=3)
    with pytest.raises(AttributeError):
        code.B = None


# ----------------------------------------------------------------------------- user codes


def _identity(*, n):
    return Code("test-identity", sp.identity(n, format="csr"), params={"n": n}, exact_s=0,
                groups=np.arange(n))


_identity.tags = {"family": "baseline", "replica_groups": True}


def test_registering_a_user_code_leaves_nothing_behind():
    name = "test-identity-user"
    before = CODES.names()
    register_code(name, family="baseline", replica_groups=True,
                  summary="identity for the registry test")(_identity)
    try:
        assert make_code(name, n=3, rng=5).storage == 1  # deterministic: rng ignored
        entry = next(e for e in list_codes() if e.name == name)
        assert entry.summary == "identity for the registry test"
        assert entry.tags["family"] == "baseline" and entry.tags["replica_groups"] is True
        with pytest.raises(ValueError, match=r"already registered"):
            register_code(name, family="baseline")(_identity)
    finally:
        CODES.unregister(name)
    assert CODES.names() == before


def test_user_code_by_module_reference_uses_its_tags_attribute():
    ref = "tests.test_code_registry:_identity"
    assert make_code(ref, n=4, rng=0).n_workers == 4
    assert code_tags(ref)["replica_groups"] is True and ref not in CODES


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"family": "exakt"}, ValueError, r"'family'.*Did you mean 'exact'"),
        ({"family": "exact", "storage_param": "w"}, ValueError, r"'storage_param'.*'row_weight'"),
        ({"family": "exact", "randomized": 1}, TypeError, r"'randomized'.*bool; got int 1"),
        ({"family": "exact", "closed_form": 0.5}, TypeError, r"'closed_form'.*callable"),
    ],
)
def test_register_code_validates_its_tags(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        register_code("x", **kwargs)


def test_randomized_registration_needs_an_rng_parameter():
    with pytest.raises(TypeError, match=r"registered as randomized.*'rng' keyword"):
        register_code("test-no-rng", family="approximate", randomized=True)(_identity)
    assert "test-no-rng" not in CODES


# ----------------------------------------------------------------------------- closed forms


def _closed(name, model, **params):
    code = make_code(name, **params, rng=0)
    return code_tags(name)["closed_form"](code, model)


def test_approx_frc_closed_form_for_any_n_and_d():
    fixed = make_stragglers("fixed", s=12)
    assert round(_closed("approx-frc", fixed, n=24, row_weight=3), 5) == 0.10870
    assert _closed("approx-frc", fixed, n=24, row_weight=3) == pytest.approx(
        comb(12, 3) / comb(24, 3), rel=1e-14)
    # d not dividing n: groups of 5, 5, 4 for n = 14, d = 5
    for n, d, s in [(14, 5, 6), (25, 4, 10), (7, 7, 3)]:
        value = _closed("approx-frc", make_stragglers("fixed", s=s), n=n, row_weight=d)
        assert value == pytest.approx(approx_frc_expected_error(n, d, s), rel=1e-14)
    # independent stragglers: a group of m is lost with probability p^m
    value = _closed("approx-frc", make_stragglers("bernoulli", p=0.3), n=14, row_weight=5)
    assert value == pytest.approx((10 * 0.3**5 + 4 * 0.3**4) / 14, rel=1e-14)


def test_exact_and_baseline_closed_forms():
    for name in ("frc", "crc", "cyclic-mds"):
        for s in (0, 2, 3):
            assert _closed(name, make_stragglers("fixed", s=s), n=12, s=3) == 0.0
    # more stragglers than tolerated: frc is a replica-group code, the cyclic ones have none
    assert _closed("frc", make_stragglers("fixed", s=5), n=12, s=3) == pytest.approx(
        comb(5, 4) / comb(12, 4))
    assert _closed("crc", make_stragglers("fixed", s=5), n=12, s=3) is None
    assert _closed("cyclic-mds", make_stragglers("bernoulli", p=0.1), n=12, s=3) is None
    assert _closed("uncoded", make_stragglers("fixed", s=3), n=12) == pytest.approx(3 / 12)
    assert _closed("uncoded", make_stragglers("bernoulli", p=0.25), n=12) == pytest.approx(0.25)
    assert _closed("uncoded", make_stragglers("shifted-exponential", rate=1.0, deadline=1.0),
                   n=12) is None


def test_bibd_closed_form_depends_on_the_number_of_responders_only():
    n, w = 13, 4
    assert _closed("bibd", make_stragglers("fixed", s=4), n=n) == pytest.approx(
        bibd_lstsq_error(n, w, n - 4))
    r = np.arange(n + 1)
    errs = np.array([bibd_lstsq_error(n, w, int(x)) for x in r])
    expected = binom.pmf(r, n, 0.8) @ errs
    assert _closed("bibd", make_stragglers("bernoulli", p=0.2), n=n) == pytest.approx(expected)


def test_import_is_tensorflow_free():
    code = (
        "import sys, aircomp_agc.coding, aircomp_agc.coding.decoders, "
        "aircomp_agc.coding.testing;"
        "from aircomp_agc.coding import make_code; make_code('frc', n=4, s=1);"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'channels', "
        "'sionna')]; print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
