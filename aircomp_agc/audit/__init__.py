"""Audit of the source text's quantitative claims, by measurement.

::

    from aircomp_agc.audit import run_audit
    report = run_audit(out="figures/claims.md", quick=True, rng=0)
    print(report.table())

The source text is ``approximate-gradient-coding.txt`` (a textbook section on approximate
gradient coding, Section 6.3). Its claims are written in :mod:`.claims` with their
sections; the audit never reads the text. Each :class:`Claim` has a measurement
(:mod:`.checks`, with the toolkit's coding, aggregation and learning APIs) and a verdict
rule; verdicts are ``"holds"``, ``"fails"`` or ``"holds only under <condition>"``.
:func:`run_audit` writes a markdown report: a table (claim, test, measured numbers,
verdict) and a section of evidence per claim.
"""

from .base import (
    FAILS,
    HOLDS,
    HOLDS_ONLY_UNDER,
    VERDICTS,
    AuditContext,
    Budget,
    Claim,
    ClaimResult,
    Measurement,
    Table,
    Verdict,
    is_verdict,
)
from .claims import CLAIMS, NOT_AUDITED, SOURCE_TEXT, claim_ids, get_claim
from .report import AuditReport, check_claim, run_audit

__all__ = [
    "CLAIMS",
    "FAILS",
    "HOLDS",
    "HOLDS_ONLY_UNDER",
    "NOT_AUDITED",
    "SOURCE_TEXT",
    "VERDICTS",
    "AuditContext",
    "AuditReport",
    "Budget",
    "Claim",
    "ClaimResult",
    "Measurement",
    "Table",
    "Verdict",
    "check_claim",
    "claim_ids",
    "get_claim",
    "is_verdict",
    "run_audit",
]
