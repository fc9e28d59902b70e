"""The privacy center's admin pages: privacy requests (overdue first) and
bulk suppression files."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal import queue
from portal.audit import record_audit
from portal.authz import admin_required
from portal.extensions import db
from portal.models import PrivacyRequest, SuppressionFile
from portal.models.base import utcnow
from portal.pagination import paginate
from portal.privacy import requests
from portal.privacy.bulk import HashFileRefused, read_hash_file
from portal.privacy.forms import DecisionForm, SuppressionUploadForm
from portal.rendering import render

bp = Blueprint("privacy_admin", __name__, url_prefix="/admin")


@bp.before_request
@admin_required
def _admins_only():
    """Every route here is for admins only (403 for others)."""


@bp.get("/privacy-requests")
def privacy_requests():
    now = utcnow()
    show = "all" if request.args.get("show") == "all" else "open"
    page = paginate(requests.admin_queue(now, show=show), request.args.get("page"))
    return render(
        "privacy/admin_requests.html",
        "privacy/admin_requests.html",
        page=page,
        show=show,
        now=now,
        overdue=requests.overdue_count(db.session, now),
        form=DecisionForm(formdata=None),
    )


def _decide(request_id: int, decide, verb: str):
    item = db.session.get(PrivacyRequest, request_id)
    if item is None:
        abort(404)
    form = DecisionForm()
    if not form.validate_on_submit():
        flash(next(iter(form.errors.values()))[0], "error")
        return redirect(url_for("privacy_admin.privacy_requests"), code=303)
    try:
        decide(item, form.reason.data.strip(), utcnow(), decided_by_id=current_user.id)
    except (requests.RequestClosed, ValueError) as refused:
        flash(str(refused), "error")
        return redirect(url_for("privacy_admin.privacy_requests"), code=303)
    record_audit(
        f"privacy.request_{verb}",
        actor=current_user,
        target=item,
        details={"kind": item.kind.value},
        ip=request.remote_addr,
    )
    db.session.commit()
    flash(f"Request {item.id} {verb}.", "success")
    return redirect(url_for("privacy_admin.privacy_requests"), code=303)


@bp.post("/privacy-requests/<int:request_id>/complete")
def complete_privacy_request(request_id: int):
    return _decide(request_id, requests.complete_request, "completed")


@bp.post("/privacy-requests/<int:request_id>/deny")
def deny_privacy_request(request_id: int):
    return _decide(request_id, requests.deny_request, "denied")


def _suppressions_page(form, status: int = 200):
    files = db.session.scalars(
        select(SuppressionFile).order_by(SuppressionFile.id.desc()).limit(50)
    ).all()
    return render(
        "privacy/admin_suppressions.html",
        "privacy/admin_suppressions.html",
        status=status,
        form=form,
        files=files,
    )


@bp.get("/suppressions")
def suppressions():
    return _suppressions_page(SuppressionUploadForm(formdata=None))


@bp.post("/suppressions")
def upload_suppressions():
    """Keep an uploaded hash file and start the job that applies it."""
    form = SuppressionUploadForm()
    upload = request.files.get("file")
    if not form.validate_on_submit() or upload is None or not upload.filename:
        form.file.errors = ["Choose a file of SHA-256 hashes."]
        return _suppressions_page(form, 422)
    content = upload.read(current_app.config["SUPPRESSION_FILE_MAX_BYTES"] + 1)
    if len(content) > current_app.config["SUPPRESSION_FILE_MAX_BYTES"]:
        form.file.errors = ["The file is too large."]
        return _suppressions_page(form, 422)
    try:
        parsed = read_hash_file(content)
    except HashFileRefused as refused:
        form.file.errors = [refused.message]
        return _suppressions_page(form, 422)
    record = SuppressionFile(
        filename=upload.filename[:255],
        hashes=parsed.hashes,
        uploaded_by_id=current_user.id,
        hashes_read=len(parsed.hashes),
        invalid_lines=parsed.invalid_lines,
        created_at=utcnow(),
    )
    db.session.add(record)
    db.session.flush()
    record.job_run_id = queue.start_job(
        "apply_suppression_file", subject=record, created_by=current_user
    ).id
    record_audit(
        "privacy.suppression_file_uploaded",
        actor=current_user,
        target=record,
        details={"hashes": len(parsed.hashes), "invalid_lines": parsed.invalid_lines},
        ip=request.remote_addr,
    )
    db.session.commit()
    flash(
        f"Read {len(parsed.hashes)} hashes from {record.filename}; matching "
        "records are being removed.",
        "success",
    )
    return redirect(url_for("privacy_admin.suppressions"), code=303)
