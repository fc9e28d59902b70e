"""The member's points: balances and the full history."""

from __future__ import annotations

from flask import Blueprint, current_app, request
from flask_login import current_user, login_required
from sqlalchemy import select

from portal import ledger
from portal.billing.expiry import expiring_points
from portal.extensions import db
from portal.models import EntryKind, LedgerEntry
from portal.models.base import utcnow
from portal.moderation.history import reports_by
from portal.pagination import paginate
from portal.points.services import (
    Rules,
    contributions_today,
    history_context,
    member_tier,
)
from portal.rendering import render

bp = Blueprint("points", __name__)


@bp.get("/points")
@login_required
def overview():
    kind = request.args.get("kind") or None
    statement = (
        select(LedgerEntry)
        .where(LedgerEntry.member_id == current_user.id)
        .order_by(LedgerEntry.id.desc())
    )
    if kind in {k.value for k in EntryKind}:
        statement = statement.where(LedgerEntry.kind == EntryKind(kind))
    else:
        kind = None
    page = paginate(statement, request.args.get("page"))
    now = utcnow()
    rules = Rules.from_config(current_app.config)
    context = history_context(db.session, list(page.items), rules)
    return render(
        "points/overview.html",
        "points/_history.html",
        balance=ledger.balance(db.session, current_user.id),
        expiring=expiring_points(db.session, current_user.id),
        page=page,
        context=context,
        kind=kind,
        kinds=list(EntryKind),
        rules=rules,
        tier=member_tier(db.session, current_user.id, rules, now),
        today=contributions_today(db.session, current_user.id, now),
        reports=reports_by(db.session, current_user.id),
    )
