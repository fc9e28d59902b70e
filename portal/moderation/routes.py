"""The moderators' workplace: the queue, an item, and the decisions on it.

Views are thin: read the form, run one action in a transaction of its own
(``ledger.write_transaction``: the write lock from BEGIN on SQLite, the
flag's row lock on PostgreSQL), then render. htmx gets the changed fragment
and a ``moderation-changed`` event, so the counters follow without a reload.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, request, url_for
from flask_login import current_user

from portal import ledger, matching
from portal.authz import role_required
from portal.contacts import services as contacts
from portal.extensions import db
from portal.models import Contact, Flag, FlagKind, FlagSource, Member, Role
from portal.models.base import utcnow
from portal.moderation import actions, history, merge
from portal.moderation import queue as moderation_queue
from portal.pagination import paginate
from portal.points.services import Rules
from portal.rendering import redirect_to, render, wants_fragment

bp = Blueprint("moderation", __name__, url_prefix="/moderation")
STAFF = (Role.MODERATOR, Role.ADMIN)
CHANGED_EVENT = "moderation-changed"
# The actions an item page offers, by the name in their URL.
ACTIONS = (
    "dismiss",
    "correct",
    "graveyard",
    "merge",
    "delete",
    "approve",
    "penalise",
    "suspend",
)


@bp.before_request
@role_required(*STAFF)
def _moderators_only():
    """Moderators and admins only: visitors go to log in, others get 403."""


def _context(session) -> actions.Moderation:
    return actions.Moderation(
        session=session,
        moderator=session.get(Member, current_user.id),
        rules=Rules.from_config(current_app.config),
        now=utcnow(),
        ip=request.remote_addr,
    )


def _queue_context(**extra) -> dict:
    now = utcnow()
    filters = moderation_queue.QueueFilter.from_args(request.args)
    page = paginate(
        moderation_queue.queue_items(filters, current_user.id, now),
        request.args.get("page"),
    )
    return {
        "page": page,
        "filters": filters,
        "filter_args": filters.as_args(),
        "counts": moderation_queue.counts_by_kind(db.session, now),
        "holders": moderation_queue.assignees(db.session),
        "kinds": list(FlagKind),
        "sources": list(FlagSource),
        "states": list(moderation_queue.UNRESOLVED),
        "ages": moderation_queue.AGE_CHOICES,
        "now": now,
        **extra,
    }


def _changed(response):
    response.headers["HX-Trigger"] = CHANGED_EVENT
    return response


@bp.get("")
def queue():
    return render("moderation/queue.html", "moderation/_queue.html", **_queue_context())


@bp.get("/counters")
def counters():
    return render(
        "moderation/_counters.html",
        "moderation/_counters.html",
        counts=moderation_queue.counts_by_kind(db.session, utcnow()),
        filter_args={},
    )


def _claim_response(flag_id: int, error: str | None = None, status: int = 200):
    """After a claim or release: the item's page, the queue's row for htmx,
    or (no JavaScript) back to the queue with the outcome."""
    flag = db.session.get(Flag, flag_id)
    if flag is None:
        abort(404)
    if request.form.get("from") == "item":
        return _changed(_item(flag, status, action_error=error))
    if not wants_fragment():
        flash(
            error or f"Item #{flag.id} is {flag.state.value}.",
            "warning" if error else "success",
        )
        return redirect_to(url_for("moderation.queue"))
    return _changed(
        render(
            "moderation/_row.html",
            "moderation/_row.html",
            status,
            flag=flag,
            now=utcnow(),
            row_error=error,
        )
    )


@bp.post("/<int:flag_id>/claim")
def claim(flag_id: int):
    db.session.rollback()
    try:
        with ledger.write_transaction() as session:
            moderation_queue.claim(
                session, flag_id, session.get(Member, current_user.id), utcnow()
            )
    except moderation_queue.ClaimRefused as refused:
        return _claim_response(flag_id, refused.message, 409)
    return _claim_response(flag_id)


@bp.post("/<int:flag_id>/release")
def release(flag_id: int):
    db.session.rollback()
    try:
        with ledger.write_transaction() as session:
            moderation_queue.release(
                session, flag_id, session.get(Member, current_user.id)
            )
    except moderation_queue.ClaimRefused as refused:
        return _claim_response(flag_id, refused.message, 409)
    return _claim_response(flag_id)


@bp.post("/bulk")
def bulk():
    """Claim or dismiss the ticked items, each on its own: one refused item
    (held by someone else, resolved meanwhile) does not stop the others."""
    chosen = [int(raw) for raw in request.form.getlist("flag_ids") if raw.isdigit()]
    operation = request.form.get("operation")
    reason = request.form.get("reason", "")
    done, refused = 0, []
    if operation not in ("claim", "dismiss") or not chosen:
        refused.append("Tick at least one item and choose claim or dismiss.")
    else:
        db.session.rollback()
        for flag_id in chosen[:200]:
            try:
                with ledger.write_transaction() as session:
                    if operation == "claim":
                        moderation_queue.claim(
                            session,
                            flag_id,
                            session.get(Member, current_user.id),
                            utcnow(),
                        )
                    else:
                        actions.dismiss(_context(session), flag_id, reason)
                done += 1
            except (moderation_queue.ClaimRefused, actions.ActionRefused) as error:
                refused.append(f"#{flag_id}: {error.message}")
    verb = "claimed" if operation == "claim" else "dismissed"
    message = f"{done} item{'s' if done != 1 else ''} {verb}." if done else None
    return _changed(
        render(
            "moderation/queue.html",
            "moderation/_queue.html",
            422 if refused and not done else 200,
            **_queue_context(bulk_message=message, bulk_errors=refused),
        )
    )


def _visible_flag(flag_id: int) -> Flag:
    flag = db.session.get(Flag, flag_id)
    if flag is None:
        abort(404)
    return flag


def _item(flag: Flag, status: int = 200, **extra):
    return render(
        "moderation/item.html",
        "moderation/_item.html",
        status,
        **{**item_context(flag), **extra},
    )


def item_context(flag: Flag) -> dict:
    """Everything the item page shows about ``flag``."""
    contact = db.session.get(Contact, flag.contact_id) if flag.contact_id else None
    related = (
        db.session.get(Contact, flag.related_contact_id)
        if flag.related_contact_id
        else None
    )
    candidates = []
    if contact is not None:
        candidates = matching.find_duplicates(
            db.session,
            first_name=contact.first_name,
            last_name=contact.last_name,
            company_id=contact.company_id,
            email=contact.email,
            exclude_contact_id=contact.id,
        ).candidates
    contributor_id = actions.contributor_id(db.session, flag)
    now = utcnow()
    rules = Rules.from_config(current_app.config)
    return {
        "flag": flag,
        "contact": contact,
        "related": related,
        "diff": history.field_diff(contact, flag.proposal) if contact else [],
        "provenance": contacts.field_provenance(db.session, contact.id)
        if contact
        else {},
        "revisions": contacts.contact_revisions(db.session, contact.id)
        if contact
        else [],
        "contributor": history.contributor_history(
            db.session, contributor_id, rules, now
        )
        if contributor_id
        else None,
        "candidates": candidates,
        "merge_fields": merge.MERGE_FIELDS,
        "own": current_user.id in actions.involved_members(db.session, flag),
        "now": now,
        "penalty_default": rules.bad_contribution_penalty,
        "editable": actions.EDITABLE_FIELDS,
        "next_item": history.next_item(db.session, current_user.id, flag.id),
        "submitted": {},
        "problems": {},
        "failed_action": None,
    }


@bp.get("/<int:flag_id>")
def item(flag_id: int):
    return _item(_visible_flag(flag_id))


def _values() -> dict[str, str]:
    return {
        name: request.form[name]
        for name in actions.EDITABLE_FIELDS
        if name in request.form
    }


def _int_or_none(raw: str | None) -> int | None:
    raw = (raw or "").strip().lstrip("#")
    return int(raw) if raw.isdigit() else None


@bp.post("/<int:flag_id>/actions/<action>")
def act(flag_id: int, action: str):
    if action not in ACTIONS:
        abort(404)
    _visible_flag(flag_id)
    form = request.form
    reason = form.get("reason", "")
    penalise = form.get("penalise") == "on"
    db.session.rollback()
    try:
        with ledger.write_transaction() as session:
            ctx = _context(session)
            if action == "dismiss":
                outcome = actions.dismiss(ctx, flag_id, reason)
            elif action == "correct":
                outcome = actions.correct(
                    ctx, flag_id, _values(), reason, penalise=penalise
                )
            elif action == "graveyard":
                raw_successor = form.get("successor_id", "").strip()
                successor = _int_or_none(raw_successor)
                if raw_successor and successor is None:
                    raise actions.ActionRefused(
                        "The new record is a contact number, such as 1234.",
                        {"successor_id": "Enter a contact number."},
                    )
                outcome = actions.graveyard(
                    ctx, flag_id, reason, successor_id=successor, penalise=penalise
                )
            elif action == "merge":
                outcome = actions.merge(
                    ctx,
                    flag_id,
                    reason,
                    survivor_id=_int_or_none(form.get("survivor_id")) or 0,
                    other_id=_int_or_none(form.get("other_id")) or 0,
                    winners={
                        name: form.get(f"winner_{name}", merge.SURVIVOR)
                        for name in merge.MERGE_FIELDS
                    },
                )
            elif action == "delete":
                outcome = actions.delete_contact(ctx, flag_id, reason)
            elif action == "approve":
                outcome = actions.approve(ctx, flag_id, _values(), reason)
            elif action == "penalise":
                outcome = actions.penalise(
                    ctx, flag_id, _int_or_none(form.get("points")) or 0, reason
                )
            else:
                outcome = actions.suspend(ctx, flag_id, reason)
    except actions.ActionRefused as refused:
        status = 409 if isinstance(refused, actions.AlreadyResolved) else 422
        flag = db.session.get(Flag, flag_id)
        if flag is None:
            flash(refused.message, "warning")
            return redirect_to(url_for("moderation.queue"))
        return _item(
            flag,
            status,
            action_error=refused.message,
            problems=refused.problems,
            failed_action=action,
            submitted=request.form,
        )
    db.session.expire_all()
    flag = db.session.get(Flag, outcome.flag.id)
    return _changed(_item(flag, action_message=outcome.message))
