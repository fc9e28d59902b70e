"""Opening and closing flags: the one place that knows a flag's priority and
due date, and that a flag is resolved exactly once.

Priorities and due days come from configuration per source (``FLAG_PRIORITY``,
``FLAG_DUE_DAYS``): people's disputes (source ``subject``) first and within 3
days, members' challenges and proposals within 7, the rest within 14; one
kind may be given days of its own (``FLAG_KIND_DUE_DAYS``). The
ledger effects of settling a flag stay in ``portal.points.services``, which
closes the flag through here. Functions flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from portal import config
from portal.models import Flag, FlagKind, FlagSource, FlagState


class FlagAlreadyResolved(ValueError):
    """The flag was upheld or dismissed before (by another moderator, or twice)."""


@dataclass(frozen=True)
class FlagRules:
    """Priority and due days per flag source (``FlagRules.from_config``)."""

    due_days: Mapping[FlagSource, int] = field(
        default_factory=lambda: dict(DEFAULT_DUE_DAYS)
    )
    priority: Mapping[FlagSource, int] = field(
        default_factory=lambda: dict(DEFAULT_PRIORITY)
    )
    # Kinds due sooner or later than their source's flags.
    kind_due_days: Mapping[FlagKind, int] = field(default_factory=dict)

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> FlagRules:
        """Read ``FLAG_DUE_DAYS`` and ``FLAG_PRIORITY`` (source value -> number;
        a source missing from either keeps its default) and
        ``FLAG_KIND_DUE_DAYS`` (kind value -> days). Raises ``ValueError`` for
        an unknown source or kind."""
        return cls(
            due_days={
                **DEFAULT_DUE_DAYS,
                **_by_source(settings.get("FLAG_DUE_DAYS") or {}),
            },
            priority={
                **DEFAULT_PRIORITY,
                **_by_source(settings.get("FLAG_PRIORITY") or {}),
            },
            kind_due_days={
                FlagKind(name): int(days)
                for name, days in (settings.get("FLAG_KIND_DUE_DAYS") or {}).items()
            },
        )

    def due_at(
        self, source: FlagSource, now: datetime, kind: FlagKind | None = None
    ) -> datetime:
        """When a flag of ``kind`` from ``source`` opened at ``now`` is due:
        the kind's own days if it has them, else its source's."""
        days = self.kind_due_days.get(kind) if kind is not None else None
        return now + timedelta(days=self.due_days[source] if days is None else days)

    def priority_of(self, source: FlagSource) -> int:
        return self.priority[source]


def _by_source(values: Mapping[str, int]) -> dict[FlagSource, int]:
    return {FlagSource(name): int(number) for name, number in values.items()}


# The defaults are configuration's; the queue orders by priority, then due date.
DEFAULT_DUE_DAYS = _by_source(config.FLAG_DUE_DAYS)
DEFAULT_PRIORITY = _by_source(config.FLAG_PRIORITY)


def new_flag_values(
    kind: FlagKind, source: FlagSource, now: datetime, rules: FlagRules
) -> dict[str, Any]:
    """The columns every new flag gets from its kind and source: for code that
    writes flags in bulk (the operator import) as ``open_flag`` does one."""
    return {
        "kind": kind,
        "source": source,
        "state": FlagState.OPEN,
        "priority": rules.priority_of(source),
        "due_at": rules.due_at(source, now, kind),
        "created_at": now,
    }


def open_flag(
    session: Session,
    kind: FlagKind,
    source: FlagSource,
    now: datetime,
    rules: FlagRules,
    *,
    contact_id: int | None,
    revision_id: int | None = None,
    reporter_id: int | None = None,
    details: str = "",
    related_contact_id: int | None = None,
    proposal: Mapping[str, Any] | None = None,
    member_id: int | None = None,
    evidence: Mapping[str, Any] | None = None,
    finding_key: str | None = None,
) -> Flag:
    """Open a flag with its source's priority and due date. ``proposal`` holds
    the field values a member proposed (the contact itself is unchanged);
    ``member_id`` names the contributor a finding is about, ``evidence`` what
    the sweep found and ``finding_key`` the finding (unique)."""
    flag = Flag(
        **new_flag_values(kind, source, now, rules),
        contact_id=contact_id,
        revision_id=revision_id,
        related_contact_id=related_contact_id,
        reporter_id=reporter_id,
        details=details,
        proposal=dict(proposal) if proposal is not None else None,
        member_id=member_id,
        evidence=dict(evidence) if evidence is not None else None,
        finding_key=finding_key,
    )
    session.add(flag)
    session.flush()
    return flag


def close_flag(
    flag: Flag,
    state: FlagState,
    now: datetime,
    *,
    moderator_id: int | None,
    resolution: str,
) -> None:
    """Resolve a flag once (upheld or dismissed). Raises ``FlagAlreadyResolved``
    for a flag already resolved, and ``ValueError`` for an unresolved state."""
    if not state.resolved:
        raise ValueError(f"{state.value} does not resolve a flag")
    if flag.state.resolved:
        raise FlagAlreadyResolved(f"flag {flag.id} is already {flag.state.value}")
    flag.state = state
    flag.moderator_id = moderator_id
    flag.resolution = resolution
    flag.resolved_at = now
