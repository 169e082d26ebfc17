"""The claims audit: verdicts, the report, independence from the source text's file."""

from __future__ import annotations

import builtins
import io
import math
import pathlib
import re

import numpy as np
import pytest

from aircomp_agc.audit import (
    CLAIMS,
    FAILS,
    HOLDS,
    AuditContext,
    Verdict,
    check_claim,
    claim_ids,
    get_claim,
    is_verdict,
    run_audit,
)
from aircomp_agc.audit.checks import (
    CodingAggregator,
    error_estimate,
    replica_expected_realized_error,
    replica_worst_case,
)
from aircomp_agc.coding import estimate_realized_error, make_code, make_stragglers


def _guard_source_text(monkeypatch) -> list[str]:
    """Make every file read of a path containing 'shared/seed' (or '/work/shared') fail."""
    attempts: list[str] = []

    def forbidden(path) -> bool:
        p = str(path).replace("\\", "/")
        return "shared/seed" in p or "/work/shared" in p

    def guard(original):
        def wrapped(file, *args, **kwargs):
            if isinstance(file, (str, bytes, pathlib.PurePath)) and forbidden(
                    file if not isinstance(file, bytes) else file.decode()):
                attempts.append(str(file))
                raise PermissionError(f"the audit must not read {file}")
            return original(file, *args, **kwargs)
        return wrapped

    monkeypatch.setattr(builtins, "open", guard(builtins.open))
    monkeypatch.setattr(io, "open", guard(io.open))
    for name in ("read_text", "read_bytes", "open"):
        original = getattr(pathlib.Path, name)

        def method(self, *args, _original=original, **kwargs):
            if forbidden(self):
                attempts.append(str(self))
                raise PermissionError(f"the audit must not read {self}")
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(pathlib.Path, name, method)
    return attempts


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    """One quick audit of every claim, with reads of the source text's folder forbidden."""
    mp = pytest.MonkeyPatch()
    attempts = _guard_source_text(mp)
    try:
        out = tmp_path_factory.mktemp("audit") / "figures" / "claims.md"
        report = run_audit(out=out, quick=True, rng=0)
    finally:
        mp.undo()
    return report, attempts


def test_every_claim_has_an_allowed_verdict(quick_report):
    report, _ = quick_report
    assert [r.claim.id for r in report.results] == claim_ids()
    for r in report.results:
        assert is_verdict(r.verdict.status), (r.claim.id, r.verdict.status)
        assert r.verdict.reason and r.measurement.summary
        assert r.measurement.tables, r.claim.id  # evidence with numbers


def test_report_file_lists_every_claim(quick_report):
    report, _ = quick_report
    text = report.path.read_text(encoding="utf-8")
    assert report.path.name == "claims.md"
    table = [line for line in text.splitlines() if re.match(r"\| \d+ \| \*\*", line)]
    assert len(table) == len(CLAIMS)
    for r, line in zip(report.results, table, strict=True):
        status = r.verdict.status.replace("|", "\\|")  # pipes are escaped in cells
        assert f"**{r.claim.id}**" in line and f"**{status}**" in line
        assert f"{r.claim.id}: {r.verdict.status}" in text
    assert "## Statements not audited" in text
    assert "approximate-gradient-coding.txt" in text  # the source text is named


def test_audit_does_not_read_the_source_text(quick_report):
    _, attempts = quick_report
    assert attempts == []


def test_guard_catches_a_read(monkeypatch, tmp_path):
    attempts = _guard_source_text(monkeypatch)
    with pytest.raises(PermissionError):
        open("/work/shared/seed/approximate-gradient-coding.txt")  # noqa: SIM115
    with pytest.raises(PermissionError):
        pathlib.Path("../shared/seed/x.txt").read_text()
    (tmp_path / "ok.txt").write_text("fine")
    assert (tmp_path / "ok.txt").read_text() == "fine"
    assert len(attempts) == 2


def test_known_failing_claims_fail(quick_report):
    report, _ = quick_report
    # The signed-sparse code's LS error stays at s/N whatever the row weight.
    assert report.verdicts["signed-sparse-bound"] == FAILS
    assert report.verdicts["doubling-rho"] == FAILS
    assert report.verdicts["exact-storage"] == HOLDS
    data = report["signed-sparse-bound"].measurement.data["settings"]
    for (n, s), v in data.items():
        assert all(abs(m - s / n) < 0.1 for m in v["mean"]), (n, s, v["mean"])


def test_example_storages_match_earlier_measurements(quick_report):
    report, _ = quick_report
    st = report["example-n100"].measurement.data["storages"]
    assert st["approx-frc"] == 7  # exact closed form: C(50,7)/C(100,7) < 0.01 < C(50,6)/C(100,6)
    assert st["signed-sparse"] is None
    assert 45 <= st["bgc"] <= 60


def test_check_claim_is_reproducible_and_order_independent(quick_report):
    report, _ = quick_report
    a = check_claim("doubling-rho", quick=True, rng=0)
    b = check_claim("doubling-rho", quick=True, rng=0)
    assert a.measurement.summary == b.measurement.summary
    # Alone or after every other claim: the same numbers.
    assert a.measurement.summary == report["doubling-rho"].measurement.summary
    c = check_claim("doubling-rho", quick=True, rng=1)
    assert c.measurement.summary != a.measurement.summary


def test_claims_are_one_line_and_unique():
    ids = claim_ids()
    assert len(set(ids)) == len(ids)
    for c in CLAIMS:
        for field in (c.text, c.section, c.test, c.rule):
            assert field and "\n" not in field
        assert get_claim(c.id) is c
    with pytest.raises(ValueError, match="claim_id"):
        get_claim("no-such-claim")


def test_verdict_forms():
    assert is_verdict("holds") and is_verdict("fails")
    assert is_verdict("holds only under full-batch gradients")
    assert not is_verdict("holds only under ") and not is_verdict("mostly holds")
    with pytest.raises(ValueError, match="status"):
        Verdict("partly", "x")
    v = Verdict.only_under("small eps", "numbers")
    assert v.kind == "holds only under" and v.status == "holds only under small eps"


def test_replica_expected_realized_error_matches_monte_carlo():
    rng = np.random.default_rng(3)
    G = rng.standard_normal((24, 4)) + 0.3
    for d in (2, 5):  # 5 does not divide 24: uneven groups
        code = make_code("approx-frc", n=24, row_weight=d)
        exact = replica_expected_realized_error(code, 10, G)
        mc = estimate_realized_error(code, make_stragglers("fixed", s=10), gradients=G,
                                     n_trials=6000, rng=4)
        assert mc.ci_low - 0.1 * exact <= exact <= mc.ci_high + 0.1 * exact


def test_replica_worst_case_and_isotropic_closed_form():
    code = make_code("approx-frc", n=24, row_weight=3)
    assert replica_worst_case(code, 12) == pytest.approx(12 / 24)
    assert replica_worst_case(code, 2) == 0.0
    ctx = AuditContext(quick=True, rng_seed=0)
    e = error_estimate(ctx, "approx-frc", 24, 12, 3)
    assert e.mean == pytest.approx(math.comb(12, 3) / math.comb(24, 3))  # 0.10870


def test_coding_aggregator_is_the_decoded_sum():
    code = make_code("frc", n=6, s=2)
    agg = CodingAggregator(code, make_stragglers("fixed", s=2))
    G = np.random.default_rng(0).standard_normal((6, 3))
    res = agg.round(G, batch=5, rng=1)
    np.testing.assert_allclose(res.estimate, np.broadcast_to(G.sum(0), (5, 3)), atol=1e-12)
    assert np.allclose(agg.coding_error[0], 0.0)


def test_run_audit_validates_and_selects(tmp_path):
    with pytest.raises(ValueError, match="claim_id"):
        run_audit(out=None, quick=True, claims=["nope"])
    with pytest.raises(TypeError, match="quick"):
        run_audit(out=None, quick="yes")
    rep = run_audit(out=tmp_path / "c.md", quick=True, claims=["exact-storage"], rng=0)
    assert list(rep.verdicts) == ["exact-storage"]
    assert "exact-storage" in (tmp_path / "c.md").read_text()
