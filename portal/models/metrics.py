"""The daily roll-up behind the admin dashboard: one figure per day and metric.

Kept by the ``roll_up_daily_metrics`` job (portal/admin/metrics.py says what
each metric counts); the dashboard reads finished days from here and computes
the days after the last rolled-up one live.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db


class DailyMetric(db.Model):
    __tablename__ = "daily_metrics"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    metric: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class ContactStateCount(db.Model):
    """How many contacts are in each state: a state's count is the sum of its
    rows. Kept by triggers on ``contacts`` (migration 0011): one row per state
    on SQLite; on PostgreSQL each write statement appends rows, which the
    roll-up folds back into one per state."""

    __tablename__ = "contact_state_counts"

    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    contacts: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_contact_state_counts_state", "state"),)
