"""The enterprise list pages: upload, mapping, report, quote, delivery.

Every list route opens only lists of the member's own organisation; anyone
else gets 404, so they never learn a list exists. Accepting a quote is for
the organisation's admins.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    request,
    send_file,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import select

from portal.audit import record_audit
from portal.billing.invoices import InvoiceError, parse_amount
from portal.errors import error_response
from portal.extensions import db
from portal.lists import delivery, files, pooling, retention, schedules, upload
from portal.lists.forms import ActionForm, DisputeForm, MappingForm, UploadForm
from portal.lists.pricing import ListRules
from portal.matching.batch import COMPARED_FIELDS, FieldStatus, MatchStatus
from portal.models import (
    JobRun,
    ListState,
    MatchList,
    MatchListRow,
    RefreshInterval,
    Role,
)
from portal.models.base import utcnow
from portal.moderation.flags import FlagRules
from portal.pagination import paginate
from portal.queue import retry_job
from portal.rendering import redirect_to, render

bp = Blueprint("lists", __name__, url_prefix="/lists")

RUNNING = (ListState.MATCHING, ListState.MERGING)
FIELD_CHOICES = (
    ("", "— leave out —"),
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("full_name", "Full name"),
    ("title", "Job title"),
    ("company", "Company"),
    ("company_domain", "Company website / domain"),
    ("email", "Business email"),
    ("phone", "Business phone"),
    ("city", "City"),
    ("country", "Country"),
    ("record_id", "Your record id (kept as is)"),
)


def _root() -> str:
    return current_app.config["INSTANCE_PATH"]


def _rules() -> ListRules:
    return ListRules.from_config(current_app.config)


def _own_list(list_id: int) -> MatchList:
    match_list = db.session.get(MatchList, list_id)
    if (
        match_list is None
        or current_user.organisation_id is None
        or match_list.organisation_id != current_user.organisation_id
    ):
        abort(404)
    return match_list


def _can_accept() -> bool:
    return current_user.role in (Role.ORG_ADMIN, Role.ADMIN)


def _index_context(form: UploadForm) -> dict:
    lists = []
    if current_user.organisation_id is not None:
        lists = db.session.scalars(
            select(MatchList)
            .where(MatchList.organisation_id == current_user.organisation_id)
            .order_by(MatchList.id.desc())
            .limit(50)
        ).all()
    rules = _rules()
    return {
        "form": form,
        "lists": lists,
        "max_rows": rules.max_rows,
        "max_megabytes": rules.max_bytes / (1024 * 1024),
        "organisation": current_user.organisation,
        "can_change_pooling": _can_accept(),
        "pooling_wording": pooling.POOLING_WORDING,
        "pooling_consent": pooling.latest_consent(
            db.session, current_user.organisation_id
        )
        if current_user.organisation_id is not None
        else None,
    }


@bp.route("", methods=["GET", "POST"])
@login_required
def index():
    """The organisation's lists and the upload form."""
    form = UploadForm()
    if request.method == "GET":
        return render(
            "lists/index.html", "lists/_upload_form.html", **_index_context(form)
        )
    if not form.validate_on_submit():
        return render(
            "lists/index.html", "lists/_upload_form.html", 422, **_index_context(form)
        )
    rules = _rules()
    uploaded = form.file.data
    content = uploaded.read(rules.max_bytes + 1)
    try:
        match_list = upload.accept_upload(
            db.session,
            current_user,
            filename=uploaded.filename or "list.csv",
            content=content,
            rules=rules,
            root=_root(),
            now=utcnow(),
        )
    except upload.ListRefused as refused:
        db.session.rollback()
        if refused.too_large:
            return error_response(413, "Too large", refused.message)
        form.file.errors = [refused.message]
        return render(
            "lists/index.html", "lists/_upload_form.html", 422, **_index_context(form)
        )
    record_audit(
        "list.uploaded",
        actor=current_user,
        target=match_list,
        details={"rows": match_list.row_count, "format": match_list.format.value},
    )
    db.session.commit()
    return redirect_to(url_for("lists.mapping", list_id=match_list.id))


def _mapping_page(match_list: MatchList, form: MappingForm, status: int = 200):
    proposed = upload.propose_mapping(db.session, match_list, _root())
    return render(
        "lists/mapping.html",
        "lists/_mapping_form.html",
        status,
        match_list=match_list,
        proposed=proposed,
        form=form,
        field_choices=FIELD_CHOICES,
    )


@bp.route("/<int:list_id>/mapping", methods=["GET", "POST"])
@login_required
def mapping(list_id: int):
    """Each column with samples and the proposed field; confirming starts the
    match run."""
    match_list = _own_list(list_id)
    if match_list.state != ListState.MAPPING:
        return redirect_to(url_for("lists.report", list_id=match_list.id))
    form = MappingForm()
    if request.method == "GET":
        return _mapping_page(match_list, form)
    if not form.validate_on_submit():
        return _mapping_page(match_list, form, 422)
    choices = form.choices(request.form)
    try:
        upload.confirm_mapping(
            db.session, match_list, choices, member=current_user, now=utcnow()
        )
    except upload.ListRefused as refused:
        db.session.rollback()
        form.form_errors.append(refused.message)
        match_list = _own_list(list_id)
        return _mapping_page(match_list, form, 422)
    db.session.commit()
    return redirect_to(url_for("lists.report", list_id=match_list.id))


def _row_filters() -> dict[str, str]:
    status = request.args.get("status", "")
    field = request.args.get("field", "")
    field_status = request.args.get("field_status", "")
    return {
        "status": status if status in {s.value for s in MatchStatus} else "",
        "field": field if field in COMPARED_FIELDS else "",
        "field_status": field_status
        if field_status in {s.value for s in FieldStatus}
        else "",
    }


def _rows_page(match_list: MatchList, filters: dict[str, str]):
    statement = (
        select(MatchListRow)
        .where(MatchListRow.list_id == match_list.id)
        .order_by(MatchListRow.position)
    )
    if filters["status"]:
        statement = statement.where(MatchListRow.status == filters["status"])
    if filters["field"] and filters["field_status"]:
        statement = statement.where(
            MatchListRow.field_key.contains(
                f"{filters['field']}:{filters['field_status']}"
            )
        )
    elif filters["field_status"]:
        statement = statement.where(
            MatchListRow.field_key.contains(f":{filters['field_status']}")
        )
    return paginate(statement, request.args.get("page"))


@bp.get("/<int:list_id>")
@login_required
def report(list_id: int):
    """Summary, chart, quote and the rows, filterable (htmx swaps the rows)."""
    match_list = _own_list(list_id)
    if match_list.state == ListState.MAPPING:
        return redirect_to(url_for("lists.mapping", list_id=match_list.id))
    filters = _row_filters()
    page = (
        _rows_page(match_list, filters)
        if match_list.summary and not match_list.files_deleted_at
        else None
    )
    now = utcnow()
    return render(
        "lists/report.html",
        "lists/_rows.html",
        match_list=match_list,
        page=page,
        filters={k: v for k, v in filters.items() if v},
        statuses=[s.value for s in MatchStatus],
        field_statuses=[s.value for s in FieldStatus],
        compared_fields=COMPARED_FIELDS,
        delivered=match_list.state == ListState.DELIVERED,
        expired=delivery.quote_expired(match_list, now),
        can_accept=_can_accept(),
        run=_current_run(match_list),
        action_form=ActionForm(),
        dispute_form=DisputeForm(),
        retention_days=current_app.config["LIST_RETENTION_DAYS"],
    )


def _current_run(match_list: MatchList) -> JobRun | None:
    run_id = (
        match_list.merge_run_id
        if match_list.state in (ListState.MERGING, ListState.DELIVERED)
        else match_list.match_run_id
    )
    return db.session.get(JobRun, run_id) if run_id is not None else None


@bp.get("/<int:list_id>/progress")
@login_required
def progress(list_id: int):
    """The running job's progress partial; once the list has moved on, the
    page reloads to show the report."""
    match_list = _own_list(list_id)
    run = _current_run(match_list)
    response = render(
        "lists/progress.html",
        "lists/_progress.html",
        match_list=match_list,
        run=run,
    )
    if match_list.state not in RUNNING:
        response.headers["HX-Refresh"] = "true"
    return response


@bp.post("/<int:list_id>/accept")
@login_required
def accept(list_id: int):
    """An org admin accepts the quote; the merge job delivers the list."""
    match_list = _own_list(list_id)
    if not _can_accept():
        abort(403)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        delivery.accept_quote(db.session, match_list, member=current_user, now=utcnow())
    except delivery.QuoteNotAcceptable as refused:
        db.session.rollback()
        flash(refused.message, "error")
        return redirect_to(url_for("lists.report", list_id=list_id))
    record_audit(
        "list.quote_accepted",
        actor=current_user,
        target=match_list,
        details={
            "total": str(match_list.quote_total),
            "currency": match_list.quote_currency,
        },
    )
    db.session.commit()
    flash("Quote accepted. Your updated file is being prepared.", "success")
    return redirect_to(url_for("lists.report", list_id=list_id))


@bp.post("/<int:list_id>/requote")
@login_required
def requote(list_id: int):
    """Match an expired quote's list again against today's data."""
    match_list = _own_list(list_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    if not delivery.quote_expired(match_list, utcnow()):
        flash("Only an expired quote can be renewed.", "error")
        return redirect_to(url_for("lists.report", list_id=list_id))
    upload.start_matching(db.session, match_list, member=current_user)
    db.session.commit()
    return redirect_to(url_for("lists.report", list_id=list_id))


@bp.post("/<int:list_id>/retry")
@login_required
def retry(list_id: int):
    """Run a failed match again; rows already matched are kept."""
    match_list = _own_list(list_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    run = _current_run(match_list)
    if match_list.state != ListState.FAILED or run is None or not run.finished:
        flash("Only a list whose matching failed can be retried.", "error")
        return redirect_to(url_for("lists.report", list_id=list_id))
    match_list.state = ListState.MATCHING
    match_list.message = ""
    retry_job(run)
    db.session.commit()
    return redirect_to(url_for("lists.report", list_id=list_id))


@bp.post("/<int:list_id>/rows/<int:row_id>/dispute")
@login_required
def dispute(list_id: int, row_id: int):
    """ "This is not the same person": a flag for the moderators."""
    match_list = _own_list(list_id)
    row = db.session.get(MatchListRow, row_id)
    if row is None or row.list_id != match_list.id:
        abort(404)
    form = DisputeForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        delivery.dispute_row(
            db.session,
            match_list,
            row,
            member=current_user,
            details=form.details.data or "",
            now=utcnow(),
            rules=FlagRules.from_config(current_app.config),
        )
    except ValueError as refused:
        db.session.rollback()
        flash(str(refused), "error")
        return redirect_to(url_for("lists.report", list_id=list_id))
    db.session.commit()
    flash(f"Row {row.row_number} is disputed; a moderator will look at it.", "success")
    return redirect_to(url_for("lists.report", list_id=list_id))


def _delivered_file(match_list: MatchList, path, name: str, mimetype: str):
    if match_list.state != ListState.DELIVERED or match_list.files_deleted_at:
        abort(404)
    if not path.is_file():
        abort(404)
    return send_file(path, mimetype=mimetype, as_attachment=True, download_name=name)


@bp.get("/<int:list_id>/download")
@login_required
def download(list_id: int):
    """The merged file, in the format it was sent."""
    match_list = _own_list(list_id)
    mimetype = (
        "text/csv"
        if match_list.format.value == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return _delivered_file(
        match_list,
        delivery.output_path(_root(), match_list),
        files.output_name(match_list),
        mimetype,
    )


@bp.get("/<int:list_id>/changes.csv")
@login_required
def changes(list_id: int):
    """The change report: every field we added or updated, old -> new."""
    match_list = _own_list(list_id)
    return _delivered_file(
        match_list,
        delivery.changes_path(_root(), match_list),
        f"list-{match_list.id}-changes.csv",
        "text/csv",
    )


@bp.post("/<int:list_id>/delete")
@login_required
def delete(list_id: int):
    """Delete the list's file, output and rows now; its summary, quote and
    invoice stay."""
    match_list = _own_list(list_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        retention.delete_list_data(db.session, match_list, root=_root(), now=utcnow())
    except retention.ListBusy as busy:
        db.session.rollback()
        flash(str(busy), "error")
        return redirect_to(url_for("lists.report", list_id=list_id))
    record_audit("list.deleted", actor=current_user, target=match_list)
    db.session.commit()
    flash("The list's file, output and rows are deleted.", "success")
    return redirect_to(url_for("lists.index"))


@bp.post("/pooling")
@login_required
def change_pooling():
    """An org admin opts the organisation in to pooling, or out, with the
    wording shown recorded as the consent."""
    if not _can_accept():
        abort(403)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    organisation = current_user.organisation
    if organisation is None:
        flash("Your account belongs to no organisation.", "error")
        return redirect_to(url_for("lists.index"))
    opted_in = request.form.get("pooling") == "in"
    pooling.set_pooling(
        db.session, organisation, opted_in=opted_in, member=current_user, now=utcnow()
    )
    record_audit(
        "organisation.pooling_changed",
        actor=current_user,
        target=organisation,
        details={"opted_in": opted_in},
    )
    db.session.commit()
    flash(
        "Pooling is on: differing values in your lists are proposed to moderators."
        if opted_in
        else "Pooling is off: nothing from your lists is proposed to the pool.",
        "success",
    )
    return redirect_to(url_for("lists.index"))


@bp.post("/<int:list_id>/schedule")
@login_required
def schedule(list_id: int):
    """An org admin sets (or stops) the weekly or monthly refresh and its cap."""
    match_list = _own_list(list_id)
    if not _can_accept():
        abort(403)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    raw_interval = request.form.get("interval", "")
    try:
        interval = RefreshInterval(raw_interval) if raw_interval else None
        raw_cap = request.form.get("price_cap", "").strip()
        cap = parse_amount(raw_cap) if raw_cap else None
        schedules.set_schedule(
            match_list, interval=interval, price_cap=cap, now=utcnow()
        )
    except (ValueError, InvoiceError) as refused:
        db.session.rollback()
        message = getattr(refused, "message", "Choose weekly, monthly or no refresh.")
        flash(message, "error")
        return redirect_to(url_for("lists.report", list_id=list_id))
    record_audit(
        "list.schedule_changed",
        actor=current_user,
        target=match_list,
        details={"interval": raw_interval or None, "price_cap": str(cap)},
    )
    db.session.commit()
    flash(
        f"Refreshed {interval.value}, next on {match_list.next_refresh_at:%d %b %Y}."
        if interval
        else "No scheduled refresh.",
        "success",
    )
    return redirect_to(url_for("lists.report", list_id=list_id))
