"""The admin area: dashboard, demo data, background jobs, outbox, audit log."""

from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from portal import queue
from portal.admin import metrics
from portal.admin.forms import AuditFilterForm, DateRangeForm, DemoDataForm
from portal.audit import (
    AUDIT_CSV_HEADER,
    AuditFilter,
    audit_csv_rows,
    audit_entries,
    audit_vocabulary,
    record_audit,
)
from portal.authz import admin_required
from portal.csvfiles import iter_csv
from portal.extensions import db
from portal.models import JobRun, JobState, OutboxMessage, OutboxState
from portal.models.base import utcnow
from portal.pagination import paginate
from portal.rendering import render

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@admin_required
def _admins_only():
    """Every admin route is for admins only (403 for others)."""


def _dashboard_context(**context) -> dict:
    """What the dashboard page shows: the figures for the asked date range (the
    default range, with the form's errors, when the range is not valid)."""
    config = current_app.config
    now = utcnow()
    range_form = DateRangeForm(request.args)
    range_form.validate()
    days = range_form.resolve(
        now.date(), config["DASHBOARD_DEFAULT_DAYS"], config["DASHBOARD_MAX_DAYS"]
    )
    context.setdefault("form", DemoDataForm())
    context.setdefault(
        "recent_jobs",
        db.session.scalars(select(JobRun).order_by(JobRun.id.desc()).limit(5)).all(),
    )
    return {
        "dashboard": metrics.build_dashboard(
            db.session,
            days,
            now,
            backlog_age_edges=config["DASHBOARD_BACKLOG_AGE_DAYS"],
            daily_max_days=config["DASHBOARD_DAILY_MAX_DAYS"],
            active_days=config["ACTIVE_MEMBER_DAYS"],
        ),
        "headline": metrics.headline_counts(db.session),
        "range_form": range_form,
        "presets": metrics.range_presets(now.date(), config["DASHBOARD_MAX_DAYS"]),
        **context,
    }


@bp.get("")
def dashboard():
    return render(
        "admin/dashboard.html", "admin/_dashboard_figures.html", **_dashboard_context()
    )


@bp.post("/demo-data")
def generate_demo_data():
    form = DemoDataForm()
    if not form.validate_on_submit():
        return render(
            "admin/dashboard.html",
            "admin/_demo_data_form.html",
            status=422,
            **_dashboard_context(form=form),
        )
    params = {"contacts": form.contacts.data, "seed": form.seed.data}
    run = queue.start_job("seed_demo_data", params=params, created_by=current_user)
    record_audit(
        "demo_data.requested",
        actor=current_user,
        target=run,
        details=params,
        ip=request.remote_addr,
    )
    db.session.commit()
    return render(
        "admin/dashboard.html",
        "admin/_demo_data_started.html",
        status=202,
        **_dashboard_context(form=DemoDataForm(formdata=None), recent_jobs=[run]),
        run=run,
    )


@bp.get("/jobs")
def jobs():
    state = request.args.get("state") or None
    statement = select(JobRun).order_by(JobRun.id.desc())
    if state in {s.value for s in JobState}:
        statement = statement.where(JobRun.state == JobState(state))
    page = paginate(statement, request.args.get("page"))
    return render(
        "admin/jobs.html",
        "admin/_jobs_table.html",
        page=page,
        state=state,
        states=list(JobState),
    )


@bp.post("/jobs/quality-sweep")
def start_quality_sweep():
    """Run the nightly quality sweep now (it opens no flag twice)."""
    run = queue.start_job("quality_sweep", created_by=current_user)
    record_audit(
        "moderation.sweep_requested",
        actor=current_user,
        target=run,
        ip=request.remote_addr,
    )
    db.session.commit()
    flash(f"Quality sweep started as job {run.id}.", "success")
    return redirect(url_for("admin.jobs"))


@bp.post("/jobs/<int:run_id>/retry")
def retry_job(run_id: int):
    run = db.get_or_404(JobRun, run_id)
    if run.state not in (JobState.FAILED, JobState.CANCELED):
        flash("Only failed or canceled jobs can be retried.", "warning")
        return redirect(url_for("admin.jobs"))
    queue.retry_job(run)
    record_audit("job.retried", actor=current_user, target=run, ip=request.remote_addr)
    db.session.commit()
    flash(f"Job {run.id} is queued again.", "success")
    return redirect(url_for("admin.jobs"))


@bp.post("/jobs/<int:run_id>/cancel")
def cancel_job(run_id: int):
    run = db.get_or_404(JobRun, run_id)
    try:
        queue.cancel_job(run, by=current_user, now=utcnow())
    except queue.JobNotCancelable as refused:
        flash(str(refused), "warning")
        return redirect(url_for("admin.jobs"))
    record_audit("job.canceled", actor=current_user, target=run, ip=request.remote_addr)
    db.session.commit()
    flash(f"Job {run.id}: {run.message}.", "success")
    return redirect(url_for("admin.jobs"))


@bp.get("/outbox")
def outbox():
    state = request.args.get("state") or None
    statement = select(OutboxMessage).order_by(OutboxMessage.id.desc())
    if state in {s.value for s in OutboxState}:
        statement = statement.where(OutboxMessage.state == OutboxState(state))
    page = paginate(statement, request.args.get("page"))
    return render(
        "admin/outbox.html",
        "admin/_outbox_table.html",
        page=page,
        state=state,
        states=list(OutboxState),
    )


@bp.get("/outbox/<int:message_id>")
def outbox_message(message_id: int):
    message = db.session.get(OutboxMessage, message_id) or abort(404)
    return render(
        "admin/outbox_message.html", "admin/outbox_message.html", message=message
    )


def _audit_filter_form() -> tuple[AuditFilterForm, AuditFilter]:
    """The audit filters from the query string; invalid ones are left out and
    their errors shown."""
    form = AuditFilterForm(request.args)
    actions, target_types = audit_vocabulary(db.session)
    any_value = SelectChoice("", "Any")
    form.action.choices = [any_value, *map(SelectChoice, actions)]
    form.target_type.choices = [any_value, *map(SelectChoice, target_types)]
    form.validate()

    def valid(field):
        return None if field.errors else (field.data or None)

    start, end = valid(form.start), valid(form.end)
    return form, AuditFilter(
        actor=valid(form.actor),
        action=valid(form.action),
        target_type=valid(form.target_type),
        target_id=valid(form.target_id),
        start=metrics.day_start(start) if start else None,
        end=metrics.day_start(end + timedelta(days=1)) if end else None,
    )


@bp.get("/audit")
def audit():
    form, filters = _audit_filter_form()
    page = paginate(audit_entries(filters), request.args.get("page"))
    return render(
        "admin/audit.html",
        "admin/_audit_table.html",
        page=page,
        form=form,
        query={name: value for name, value in request.args.items() if name != "page"},
    )


@bp.get("/audit/export")
def export_audit():
    """The filtered audit log as CSV, every cell formula-escaped."""
    _form, filters = _audit_filter_form()
    entries = db.session.scalars(
        audit_entries(filters).execution_options(yield_per=1000)
    )
    # Built here, inside the request's session, as the other CSV downloads are.
    response = Response(
        "".join(iter_csv(AUDIT_CSV_HEADER, audit_csv_rows(entries))),
        mimetype="text/csv",
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="tessera-audit-{utcnow():%Y%m%d-%H%M%S}.csv"'
    )
    return response
