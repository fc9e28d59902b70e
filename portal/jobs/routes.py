"""Job status, polled by the ``_job_status.html`` partial."""

from __future__ import annotations

from flask import Blueprint, abort
from flask_login import current_user, login_required

from portal.extensions import db
from portal.models import JobRun, Role
from portal.rendering import render

bp = Blueprint("jobs", __name__, url_prefix="/jobs")


@bp.get("/<int:run_id>")
@login_required
def status(run_id: int):
    """The run's progress; only its creator and admins may see it."""
    run = db.session.get(JobRun, run_id)
    if run is None or (
        run.created_by_id != current_user.id and not current_user.has_role(Role.ADMIN)
    ):
        abort(404)
    return render("jobs/status.html", "components/_job_status.html", run=run)
