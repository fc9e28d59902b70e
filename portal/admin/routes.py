"""The admin area: dashboard, demo data, background jobs, outbox."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from portal import queue
from portal.admin.forms import DemoDataForm
from portal.audit import record_audit
from portal.authz import admin_required
from portal.extensions import db
from portal.models import (
    Company,
    Contact,
    JobRun,
    JobState,
    Member,
    OutboxMessage,
    OutboxState,
)
from portal.models.base import utcnow
from portal.pagination import paginate
from portal.rendering import render

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@admin_required
def _admins_only():
    """Every admin route is for admins only (403 for others)."""


def _count(model, *criteria) -> int:
    return (
        db.session.scalar(select(func.count()).select_from(model).where(*criteria)) or 0
    )


def _dashboard_figures() -> dict:
    contacts_by_state = dict(
        db.session.execute(
            select(Contact.state, func.count()).group_by(Contact.state)
        ).all()
    )
    return {
        "members": _count(Member),
        "companies": _count(Company),
        "contacts": sum(contacts_by_state.values()),
        "contacts_by_state": contacts_by_state,
        "jobs_queued": _count(
            JobRun,
            JobRun.state.in_([JobState.QUEUED, JobState.RUNNING, JobState.RETRYING]),
        ),
        "jobs_failed": _count(JobRun, JobRun.state == JobState.FAILED),
        "outbox_failed": _count(
            OutboxMessage, OutboxMessage.state == OutboxState.FAILED
        ),
        "outbox_total": _count(OutboxMessage),
    }


@bp.get("")
def dashboard():
    recent_jobs = db.session.scalars(
        select(JobRun).order_by(JobRun.id.desc()).limit(5)
    ).all()
    return render(
        "admin/dashboard.html",
        "admin/dashboard.html",
        figures=_dashboard_figures(),
        form=DemoDataForm(),
        recent_jobs=recent_jobs,
    )


@bp.post("/demo-data")
def generate_demo_data():
    form = DemoDataForm()
    if not form.validate_on_submit():
        return render(
            "admin/dashboard.html",
            "admin/_demo_data_form.html",
            status=422,
            figures=_dashboard_figures(),
            form=form,
            recent_jobs=[],
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
        figures=_dashboard_figures(),
        form=DemoDataForm(formdata=None),
        recent_jobs=[run],
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
