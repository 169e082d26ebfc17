"""Code registry: names, families, close-name suggestions, parameter errors, conformance."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import aircomp_agc.coding as coding
from aircomp_agc.coding import CODES, Code, list_codes, make_code, register_code
from aircomp_agc.coding.registry import code_family

# The constructions of this module's owner; colleagues register more (bgc, graph, ...).
MINE = {
    "frc": "exact",
    "crc": "exact",
    "cyclic-mds": "exact",
    "approx-frc": "approximate",
    "uncoded": "baseline",
}

EXAMPLES = {
    "frc": dict(n=12, s=3),
    "crc": dict(n=12, s=3, rng=0),
    "cyclic-mds": dict(n=12, s=3),
    "approx-frc": dict(n=12, row_weight=3),
    "uncoded": dict(n=12),
}


def test_public_api_exports():
    expected = {
        "Code",
        "make_code",
        "list_codes",
        "register_code",
        "CODES",
        "decode",
        "decoding_error",
        "decoding_errors",
        "realized_error",
        "NotDecodableError",
    }
    assert expected <= set(coding.__all__)
    for name in coding.__all__:
        assert hasattr(coding, name), name


def test_list_codes_contents_and_order():
    rows = list_codes()
    table = {name: family for name, family, _ in rows}
    for name, family in MINE.items():
        assert table[name] == family
        assert code_family(name) == family
    summaries = {name: summary for name, _, summary in rows}
    assert "Tandon" in summaries["frc"] and "Raviv" in summaries["cyclic-mds"]
    order = [("exact", "approximate", "baseline").index(f) for _, f, _ in rows]
    assert order == sorted(order)
    names_by_family = {}
    for name, family, _ in rows:
        names_by_family.setdefault(family, []).append(name)
    for names in names_by_family.values():
        assert names == sorted(names)


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


@pytest.mark.parametrize("name", sorted(MINE))
def test_conformance(name):
    """Contract every construction of this module satisfies."""
    params = EXAMPLES[name]
    code = make_code(name, **params)
    assert isinstance(code, Code) and code.name == name
    assert sp.issparse(code.B) and code.B.format == "csr" and code.B.dtype == np.float64
    assert code.n_workers == params["n"]
    for key, value in params.items():
        if key != "rng":
            assert code.params[key] == value
    assert np.all(code.replication >= 1)  # every partition is stored somewhere
    assert code.storage == code.loads.max()
    if MINE[name] == "exact":
        assert code.storage == params["s"] + 1 and code.exact_s == params["s"]
        # full responder set decodes exactly
        a = code.decode(np.ones(code.n_workers, dtype=bool), method="exact")
        np.testing.assert_allclose(code.B.T @ a, 1.0, atol=1e-10)
    with pytest.raises(AttributeError):
        code.B = None  # frozen


@pytest.mark.parametrize("name", sorted(MINE))
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


def test_registering_a_user_code_and_duplicate_name():
    name = "test-identity-user"
    if name not in CODES:

        @register_code(name, family="baseline", summary="identity for the registry test")
        def _identity(*, n):
            return Code(name, sp.identity(n, format="csr"), params={"n": n})

    assert make_code(name, n=3).storage == 1
    assert (name, "baseline", "identity for the registry test") in list_codes()
    with pytest.raises(ValueError, match=r"already registered"):
        register_code(name, family="baseline")(lambda **kw: None)
    with pytest.raises(ValueError, match=r"'family'.*Did you mean 'exact'"):
        register_code("x", family="exakt")


def test_import_is_tensorflow_free():
    code = (
        "import sys, aircomp_agc.coding, aircomp_agc.coding.decoders;"
        "from aircomp_agc.coding import make_code; make_code('frc', n=4, s=1);"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'channels', "
        "'sionna')]; print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
