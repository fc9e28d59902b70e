"""The nightly quality sweep: what nobody reported.

It looks for

* near-duplicate clusters: one person under two emails at one company, found
  by the batch matcher (:func:`portal.matching.batch.near_duplicate_clusters`);
* bursts: many contributions by one member within minutes;
* roster runs: a member's consecutive contributions in alphabetical order of
  name, or with phone numbers counting up, as a copied list would be;
* contributors with a high share of contributions upheld as bad;
* contributors with many email-domain mismatches held at entry;

and opens one flag of source ``sweep`` per finding, with its evidence. Each
finding has a key (unique on ``flags.finding_key``): a rerun finds the same
key and opens nothing. A contributor with an unresolved finding of a kind
gets no second one of that kind until it is resolved. Services only: the
sweep flushes and commits per batch of companies (it is long), nothing else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from portal.dialects import insert_for
from portal.matching.batch import near_duplicate_clusters
from portal.models import (
    Company,
    Flag,
    FlagKind,
    FlagSource,
    FlagState,
    Revision,
    RevisionKind,
    RevisionSource,
)
from portal.moderation.flags import FlagRules, new_flag_values

MEMBER_SOURCES = (RevisionSource.FORM, RevisionSource.CSV)
# Companies whose contacts are compared per read.
COMPANIES_PER_BATCH = 2_000
# Pairs a contributor or the entry check already sent to a moderator.
DECIDED_PAIR_KINDS = (FlagKind.POSSIBLE_DUPLICATE, FlagKind.DUPLICATE)


@dataclass(frozen=True)
class SweepRules:
    """The sweep's thresholds, from configuration (``SweepRules.from_config``)."""

    # A burst: this many contributions within this many minutes.
    burst_contributions: int = 20
    burst_minutes: int = 10
    # A roster run: this many consecutive contributions in name order, or
    # this many with phone numbers one apart.
    roster_run_names: int = 12
    roster_run_phones: int = 5
    # Contributions looked at for bursts and runs (the sweep runs nightly;
    # overlapping nights find the same keys).
    lookback_days: int = 2
    # Rates over the rating window: at least this many contributions, of
    # which this share upheld as bad; this many domain mismatches.
    rate_window_days: int = 45
    upheld_min_contributions: int = 10
    upheld_percent: int = 30
    domain_mismatches: int = 5

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SweepRules:
        return cls(
            **{
                name: int(config[f"SWEEP_{name.upper()}"])
                for name in cls.__dataclass_fields__
                if f"SWEEP_{name.upper()}" in config
            }
        )


@dataclass(frozen=True)
class Finding:
    kind: FlagKind
    key: str
    details: str
    evidence: dict[str, Any]
    contact_id: int | None = None
    related_contact_id: int | None = None
    member_id: int | None = None


@dataclass
class SweepResult:
    found: dict[str, int] = field(default_factory=dict)
    opened: dict[str, int] = field(default_factory=dict)
    companies: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "companies": self.companies,
            "found": self.found,
            "opened": self.opened,
        }


Progress = Callable[[int, str], None]


def run_sweep(
    session: Session,
    rules: SweepRules,
    flag_rules: FlagRules,
    now: datetime,
    *,
    progress: Progress | None = None,
) -> SweepResult:
    """Look for every kind of finding and open a flag for each new one.
    Commits after each batch of companies and at the end; running it again
    opens nothing new for the same findings."""
    result = SweepResult()
    decided = _decided_pairs(session)
    company_ids = list(session.scalars(select(Company.id).order_by(Company.id)))
    result.companies = len(company_ids)
    for start in range(0, len(company_ids), COMPANIES_PER_BATCH):
        batch = company_ids[start : start + COMPANIES_PER_BATCH]
        findings = [
            finding
            for cluster in near_duplicate_clusters(session, batch)
            if (finding := _cluster_finding(cluster, decided)) is not None
        ]
        _open(session, findings, flag_rules, now, result)
        session.commit()
        if progress is not None:
            done = start + len(batch)
            progress(
                done * 90 // max(1, len(company_ids)),
                f"{done:,} of {len(company_ids):,} companies compared",
            )
    member_findings = [
        *burst_findings(session, rules, now),
        *roster_findings(session, rules, now),
        *upheld_rate_findings(session, rules, now),
        *domain_mismatch_findings(session, rules, now),
    ]
    _open(session, _not_already_open(session, member_findings), flag_rules, now, result)
    session.commit()
    if progress is not None:
        progress(100, "Sweep finished")
    return result


# --- near duplicates --------------------------------------------------------------


def _decided_pairs(session: Session) -> set[tuple[int, int]]:
    """Contact pairs already put to a moderator as possible duplicates."""
    rows = session.execute(
        select(Flag.contact_id, Flag.related_contact_id).where(
            Flag.kind.in_(DECIDED_PAIR_KINDS),
            Flag.contact_id.is_not(None),
            Flag.related_contact_id.is_not(None),
        )
    )
    return {(min(a, b), max(a, b)) for a, b in rows}


def _cluster_finding(cluster, decided: set[tuple[int, int]]) -> Finding | None:
    scores = [(a, b, s) for a, b, s in cluster.scores if (a, b) not in decided]
    if not scores:
        return None
    ids = tuple(sorted({i for a, b, _ in scores for i in (a, b)}))
    digest = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:32]
    pairs = "; ".join(f"#{a} and #{b}: {s:.0f}" for a, b, s in scores[:10])
    return Finding(
        kind=FlagKind.NEAR_DUPLICATE,
        key=f"near_duplicate:{digest}",
        details=(
            f"{len(ids)} contacts at {cluster.company_name} look like one person "
            f"(matcher scores: {pairs})."
        ),
        evidence={
            "company": cluster.company_name,
            "contacts": list(ids),
            "scores": {f"#{a} ~ #{b}": s for a, b, s in scores},
        },
        contact_id=ids[0],
        related_contact_id=ids[1],
    )


# --- contributors -------------------------------------------------------------------


def _recent_contributions(session: Session, rules: SweepRules, now: datetime):
    """(member, revision id, created at, fields) of members' contributions
    in the lookback window, by member then time."""
    return session.execute(
        select(Revision.member_id, Revision.id, Revision.created_at, Revision.fields)
        .where(
            Revision.kind == RevisionKind.CONTRIBUTION,
            Revision.source.in_(MEMBER_SOURCES),
            Revision.member_id.is_not(None),
            Revision.created_at >= now - timedelta(days=rules.lookback_days),
        )
        .order_by(Revision.member_id, Revision.created_at, Revision.id)
    ).all()


def _by_member(rows) -> dict[int, list]:
    members: dict[int, list] = {}
    for row in rows:
        members.setdefault(row.member_id, []).append(row)
    return members


def burst_findings(session: Session, rules: SweepRules, now: datetime) -> list[Finding]:
    """A member's contributions with at least ``burst_contributions`` inside
    ``burst_minutes``: one finding per burst, keyed by its first revision."""
    window = timedelta(minutes=rules.burst_minutes)
    need = rules.burst_contributions
    findings = []
    for member_id, rows in _by_member(
        _recent_contributions(session, rules, now)
    ).items():
        i = 0
        while i + need <= len(rows):
            if rows[i + need - 1].created_at - rows[i].created_at > window:
                i += 1
                continue
            end = i + need - 1
            while (
                end + 1 < len(rows)
                and rows[end + 1].created_at - rows[end + 2 - need].created_at <= window
            ):
                end += 1
            burst = rows[i : end + 1]
            minutes = (burst[-1].created_at - burst[0].created_at).total_seconds() / 60
            findings.append(
                Finding(
                    kind=FlagKind.CONTRIBUTION_BURST,
                    key=f"contribution_burst:{member_id}:{burst[0].id}",
                    details=(
                        f"{len(burst)} contributions in {minutes:.0f} minutes, from "
                        f"{burst[0].created_at:%-d %b %Y %H:%M} UTC."
                    ),
                    evidence={
                        "contributions": len(burst),
                        "minutes": round(minutes, 1),
                        "first_revision": burst[0].id,
                        "last_revision": burst[-1].id,
                    },
                    member_id=member_id,
                )
            )
            i = end + 1
    return findings


def _runs(rows, follows: Callable[[Any, Any], bool]) -> Iterable[list]:
    """Maximal runs of consecutive rows each following the one before."""
    run: list = []
    for row in rows:
        if run and follows(run[-1], row):
            run.append(row)
        else:
            if len(run) > 1:
                yield run
            run = [row]
    if len(run) > 1:
        yield run


def _name_key(row) -> tuple[str, str]:
    fields = row.fields or {}
    return (
        str(fields.get("last_name", "")).casefold(),
        str(fields.get("first_name", "")).casefold(),
    )


def _phone_number(row) -> int | None:
    phone = str((row.fields or {}).get("phone") or "")
    digits = phone.lstrip("+")
    return int(digits) if digits.isdigit() else None


def _names_follow(before, after) -> bool:
    return _name_key(before) <= _name_key(after)


def _phones_follow(before, after) -> bool:
    first, second = _phone_number(before), _phone_number(after)
    return first is not None and second == first + 1


def roster_findings(
    session: Session, rules: SweepRules, now: datetime
) -> list[Finding]:
    """Runs of a member's contributions that look copied from a roster:
    ``roster_run_names`` in a row in alphabetical order of last then first
    name, or ``roster_run_phones`` in a row with phone numbers one apart."""
    findings = []
    checks = (
        (_names_follow, rules.roster_run_names, "in alphabetical order of name"),
        (_phones_follow, rules.roster_run_phones, "with phone numbers one apart"),
    )
    for member_id, rows in _by_member(
        _recent_contributions(session, rules, now)
    ).items():
        for follows, need, how in checks:
            for run in _runs(rows, follows):
                if len(run) < need:
                    continue
                names = [" ".join(reversed(_name_key(row))).strip() for row in run]
                findings.append(
                    Finding(
                        kind=FlagKind.ROSTER_RUN,
                        key=f"roster_run:{member_id}:{run[0].id}",
                        details=f"{len(run)} contributions in a row {how}.",
                        evidence={
                            "contributions": len(run),
                            "order": how,
                            "first_revision": run[0].id,
                            "last_revision": run[-1].id,
                            "names": names[:15],
                        },
                        member_id=member_id,
                    )
                )
    return findings


def upheld_rate_findings(
    session: Session, rules: SweepRules, now: datetime
) -> list[Finding]:
    """Contributors with at least ``upheld_min_contributions`` contributions
    in the window of which ``upheld_percent`` or more were upheld as bad;
    keyed by the latest upheld item, so only new evidence finds again."""
    since = now - timedelta(days=rules.rate_window_days)
    contributed = (
        select(Revision.member_id, func.count().label("contributions"))
        .where(
            Revision.kind == RevisionKind.CONTRIBUTION,
            Revision.member_id.is_not(None),
            Revision.created_at >= since,
        )
        .group_by(Revision.member_id)
        .having(func.count() >= rules.upheld_min_contributions)
        .subquery()
    )
    upheld = session.execute(
        select(
            contributed.c.member_id,
            contributed.c.contributions,
            func.count(func.distinct(Flag.revision_id)),
            func.max(Flag.id),
        )
        .join(Revision, Revision.member_id == contributed.c.member_id)
        .join(
            Flag,
            and_(Flag.revision_id == Revision.id, Flag.state == FlagState.UPHELD),
        )
        .where(Revision.kind == RevisionKind.CONTRIBUTION, Revision.created_at >= since)
        .group_by(contributed.c.member_id, contributed.c.contributions)
    ).all()
    findings = []
    for member_id, contributions, bad, latest in upheld:
        if bad * 100 < rules.upheld_percent * contributions:
            continue
        findings.append(
            Finding(
                kind=FlagKind.HIGH_UPHELD_RATE,
                key=f"high_upheld_rate:{member_id}:{latest}",
                details=(
                    f"{bad} of {contributions} contributions in "
                    f"{rules.rate_window_days} days were upheld as bad "
                    f"({bad * 100 // contributions}%)."
                ),
                evidence={
                    "contributions": contributions,
                    "upheld_as_bad": bad,
                    "percent": bad * 100 // contributions,
                    "latest_upheld_item": latest,
                },
                member_id=member_id,
            )
        )
    return findings


def domain_mismatch_findings(
    session: Session, rules: SweepRules, now: datetime
) -> list[Finding]:
    """Contributors whose contributions were held for an email domain that
    is not the company's ``domain_mismatches`` times or more in the window."""
    since = now - timedelta(days=rules.rate_window_days)
    rows = session.execute(
        select(Revision.member_id, func.count(), func.max(Flag.id))
        .join(Flag, Flag.revision_id == Revision.id)
        .where(
            Flag.kind == FlagKind.DOMAIN_MISMATCH,
            Flag.created_at >= since,
            Revision.member_id.is_not(None),
        )
        .group_by(Revision.member_id)
        .having(func.count() >= rules.domain_mismatches)
    ).all()
    return [
        Finding(
            kind=FlagKind.DOMAIN_MISMATCHES,
            key=f"domain_mismatches:{member_id}:{latest}",
            details=(
                f"{count} contributions in {rules.rate_window_days} days had an "
                "email domain that is not the company's."
            ),
            evidence={"mismatches": count, "latest_item": latest},
            member_id=member_id,
        )
        for member_id, count, latest in rows
    ]


# --- opening the flags ------------------------------------------------------------


def _not_already_open(session: Session, findings: list[Finding]) -> list[Finding]:
    """Member findings whose member has no unresolved finding of that kind."""
    open_pairs = {
        (member_id, kind)
        for member_id, kind in session.execute(
            select(Flag.member_id, Flag.kind).where(
                Flag.source == FlagSource.SWEEP,
                Flag.member_id.is_not(None),
                Flag.state.in_(FlagState.unresolved_states()),
            )
        )
    }
    kept, seen = [], set()
    for finding in findings:
        pair = (finding.member_id, finding.kind)
        if pair in open_pairs or pair in seen:
            continue
        seen.add(pair)
        kept.append(finding)
    return kept


def _open(
    session: Session,
    findings: list[Finding],
    flag_rules: FlagRules,
    now: datetime,
    result: SweepResult,
) -> None:
    """Insert a flag per finding whose key is new; a key already there (this
    sweep's earlier night, or a sweep running at the same time) is skipped by
    the database."""
    for finding in findings:
        result.found[finding.kind.value] = result.found.get(finding.kind.value, 0) + 1
    if not findings:
        return
    insert = insert_for(session.get_bind())
    rows = [
        {
            **new_flag_values(finding.kind, FlagSource.SWEEP, now, flag_rules),
            "contact_id": finding.contact_id,
            "related_contact_id": finding.related_contact_id,
            "member_id": finding.member_id,
            "details": finding.details,
            "evidence": finding.evidence,
            "finding_key": finding.key,
        }
        for finding in findings
    ]
    for start in range(0, len(rows), 500):
        chunk = rows[start : start + 500]
        inserted = session.execute(
            insert(Flag)
            .values(chunk)
            .on_conflict_do_nothing(index_elements=["finding_key"])
            .returning(Flag.kind)
        ).scalars()
        for kind in inserted:
            result.opened[kind.value] = result.opened.get(kind.value, 0) + 1
    session.flush()
