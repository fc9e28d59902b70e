"""The admin area: dashboard, members, demo data, background jobs, outbox, audit log."""

from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import func, select
from wtforms.fields.choices import SelectChoice

from portal import ledger, mail, queue
from portal.admin import members, metrics, organisations
from portal.admin.forms import (
    AdjustPointsForm,
    AuditFilterForm,
    DateRangeForm,
    DemoDataForm,
    MemberFilterForm,
    OrganisationForm,
    ReinstateForm,
    RenameOrganisationForm,
    RoleForm,
    SuspendForm,
)
from portal.audit import (
    AUDIT_CSV_HEADER,
    AuditFilter,
    audit_csv_rows,
    audit_entries,
    audit_vocabulary,
    record_audit,
)
from portal.authz import admin_required
from portal.billing.plans import PlanError, allowance_per_seat, seat_holders
from portal.billing.rules import BillingRules
from portal.csvfiles import iter_csv
from portal.extensions import db
from portal.models import (
    AuditEntry,
    Contact,
    Invoice,
    JobRun,
    JobState,
    LedgerEntry,
    Member,
    Organisation,
    OutboxMessage,
    OutboxState,
    Revision,
    RevisionKind,
    Role,
    Unlock,
)
from portal.models.accounts import MemberStatus
from portal.models.base import utcnow
from portal.org import services as org_services
from portal.pagination import paginate
from portal.points.services import Rules, adjust_points, member_tier
from portal.rendering import redirect_to, render

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


# What the reconciler writes when it finds a run that RQ lost.
RECONCILER_ACTIONS = ("job.requeued", "job.stranded")


@bp.get("/jobs")
def jobs():
    state = request.args.get("state") or None
    kind = request.args.get("kind") or None
    statement = select(JobRun).order_by(JobRun.id.desc())
    if state in {s.value for s in JobState}:
        statement = statement.where(JobRun.state == JobState(state))
    else:
        state = None
    kinds = db.session.scalars(
        select(JobRun.kind).distinct().order_by(JobRun.kind)
    ).all()
    if kind in kinds:
        statement = statement.where(JobRun.kind == kind)
    else:
        kind = None
    page = paginate(statement, request.args.get("page"))
    return render(
        "admin/jobs.html",
        "admin/_jobs_table.html",
        page=page,
        state=state,
        states=list(JobState),
        kind=kind,
        kinds=kinds,
        reconciled=db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.in_(RECONCILER_ACTIONS))
            .order_by(AuditEntry.id.desc())
            .limit(20)
        ).all(),
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


def _member_filter_form() -> tuple[MemberFilterForm, members.MemberFilter]:
    form = MemberFilterForm(request.args)
    form.organisation.choices = [
        SelectChoice("", "Any"),
        SelectChoice("0", "No organisation"),
        *(
            SelectChoice(str(org.id), org.name)
            for org in members.organisations(db.session)
        ),
    ]
    form.validate()

    def valid(field):
        return field.data or None if not field.errors else None

    organisation = valid(form.organisation)
    return form, members.MemberFilter(
        text=valid(form.q),
        role=Role(form.role.data) if valid(form.role) else None,
        status=MemberStatus(form.status.data) if valid(form.status) else None,
        organisation_id=int(organisation) if organisation is not None else None,
    )


@bp.get("/members")
def members_list():
    form, filters = _member_filter_form()
    page = paginate(members.members_query(filters), request.args.get("page"))
    return render(
        "admin/members.html",
        "admin/_members_table.html",
        page=page,
        form=form,
        query={name: value for name, value in request.args.items() if name != "page"},
    )


def _member_page(
    member: Member, status: int = 200, refusal: str | None = None, **forms
):
    config = current_app.config
    now = utcnow()
    rules = Rules.from_config(config)
    session = db.session
    forms.setdefault("role_form", RoleForm(formdata=None, role=member.role.value))
    forms.setdefault("suspend_form", SuspendForm(formdata=None))
    forms.setdefault("reinstate_form", ReinstateForm(formdata=None))
    forms.setdefault("points_form", AdjustPointsForm(formdata=None))
    recent = 20
    return make_response(
        render_template(
            "admin/member.html",
            member=member,
            balance=ledger.balance(session, member.id),
            tier=member_tier(session, member.id, rules, now),
            contributions=session.execute(
                select(Revision, Contact)
                .join(Contact, Contact.id == Revision.contact_id)
                .where(
                    Revision.member_id == member.id,
                    Revision.kind == RevisionKind.CONTRIBUTION,
                )
                .order_by(Revision.id.desc())
                .limit(recent)
            ).all(),
            contribution_count=session.scalar(
                select(func.count()).where(
                    Revision.member_id == member.id,
                    Revision.kind == RevisionKind.CONTRIBUTION,
                )
            ),
            entries=session.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.member_id == member.id)
                .order_by(LedgerEntry.id.desc())
                .limit(recent)
            ).all(),
            reveals=session.execute(
                select(Unlock, Contact)
                .join(Contact, Contact.id == Unlock.contact_id)
                .where(Unlock.member_id == member.id)
                .order_by(Unlock.id.desc())
                .limit(recent)
            ).all(),
            sessions=members.live_sessions(session, member),
            audit=session.scalars(
                audit_entries(
                    AuditFilter(
                        target_type=Member.__tablename__, target_id=str(member.id)
                    )
                ).limit(recent)
            ).all(),
            is_self=member.id == current_user.id,
            refusal=refusal,
            **forms,
        ),
        status,
    )


@bp.get("/members/<int:member_id>")
def member(member_id: int):
    return _member_page(db.get_or_404(Member, member_id))


def _member_change(member_id: int, form, change, done: str):
    """Validate ``form``, apply ``change(session)`` in one transaction and
    go back to the member's page, or show the page with what went wrong."""
    target = db.get_or_404(Member, member_id)
    form_name = {
        RoleForm: "role_form",
        SuspendForm: "suspend_form",
        ReinstateForm: "reinstate_form",
        AdjustPointsForm: "points_form",
    }[type(form)]
    if not form.validate_on_submit():
        return _member_page(target, 422, **{form_name: form})
    try:
        with ledger.write_transaction() as session:
            message = change(session, target)
    except (members.MemberChangeRefused, ValueError) as refused:
        return _member_page(target, 409, refusal=str(refused), **{form_name: form})
    except ledger.InsufficientPoints as short:
        form.delta.errors = [
            *form.delta.errors,
            f"{target.email} has {short.available:,} vested points; "
            f"removing {short.needed:,} would make the balance negative.",
        ]
        return _member_page(target, 409, **{form_name: form})
    flash(message or done, "success")
    return redirect_to(url_for("admin.member", member_id=member_id))


@bp.post("/members/<int:member_id>/role")
def change_member_role(member_id: int):
    form = RoleForm()

    def change(session, target):
        updated = members.change_role(
            session,
            target.id,
            Role(form.role.data),
            actor=current_user,
            ip=request.remote_addr,
        )
        return f"{updated.email} is now {updated.role.label.lower()}."

    return _member_change(member_id, form, change, "Role changed.")


def _email_member(session, member: Member, subject: str, kind: str, reason: str):
    mail.send_email(
        member.email,
        subject,
        render_template(f"emails/{kind}.txt", member=member, reason=reason),
        kind=kind,
        session=session,
    )


@bp.post("/members/<int:member_id>/suspend")
def suspend_member(member_id: int):
    form = SuspendForm()

    def change(session, target):
        reason = form.reason.data
        revoked = members.suspend(
            session, target.id, reason, actor=current_user, ip=request.remote_addr
        )
        _email_member(
            session,
            target,
            "Your Tessera account is suspended",
            "member_suspended",
            reason,
        )
        return (
            f"{target.email} is suspended; {revoked} "
            f"{'session was' if revoked == 1 else 'sessions were'} ended."
        )

    return _member_change(member_id, form, change, "Suspended.")


@bp.post("/members/<int:member_id>/reinstate")
def reinstate_member(member_id: int):
    form = ReinstateForm()

    def change(session, target):
        reason = form.reason.data
        members.reinstate(
            session, target.id, reason, actor=current_user, ip=request.remote_addr
        )
        _email_member(
            session,
            target,
            "Your Tessera account is active again",
            "member_reinstated",
            reason,
        )
        return f"{target.email} is active again."

    return _member_change(member_id, form, change, "Reinstated.")


@bp.post("/members/<int:member_id>/points")
def adjust_member_points(member_id: int):
    form = AdjustPointsForm()

    def change(session, target):
        balance = adjust_points(
            session,
            target,
            form.delta.data,
            form.reason.data,
            actor=current_user,
            ip=request.remote_addr,
        )
        return (
            f"{form.delta.data:+,} points for {target.email}; "
            f"vested balance now {balance:,}."
        )

    return _member_change(member_id, form, change, "Points adjusted.")


def _organisations_page(status: int = 200, **context):
    text = request.args.get("q", "")
    context.setdefault("form", OrganisationForm(formdata=None))
    return render(
        "admin/organisations.html",
        "admin/_organisations_table.html",
        status=status,
        rows=organisations.organisations_with_counts(db.session, text),
        q=text,
        **context,
    )


@bp.get("/organisations")
def organisations_list():
    return _organisations_page()


@bp.post("/organisations")
def create_organisation():
    form = OrganisationForm()
    if not form.validate_on_submit():
        return _organisations_page(422, form=form)
    try:
        organisation = organisations.create_organisation(
            db.session,
            form.name.data,
            form.currency.data,
            actor=current_user,
            ip=request.remote_addr,
        )
    except (organisations.OrganisationRefused, PlanError) as refused:
        db.session.rollback()
        form.name.errors = [*form.name.errors, str(refused)]
        return _organisations_page(409, form=form)
    db.session.commit()
    flash(f"{organisation.name} is created.", "success")
    return redirect_to(url_for("admin.organisation", organisation_id=organisation.id))


def _organisation_page(organisation, status: int = 200, **context):
    context.setdefault(
        "rename_form", RenameOrganisationForm(formdata=None, name=organisation.name)
    )
    rules = BillingRules.from_config(current_app.config)
    return make_response(
        render_template(
            "admin/organisation.html",
            organisation=organisation,
            allowance=allowance_per_seat(organisation, rules),
            members=org_services.members_of(db.session, organisation),
            seat_holders=seat_holders(db.session, organisation),
            invoices=db.session.scalars(
                select(Invoice)
                .where(Invoice.organisation_id == organisation.id)
                .order_by(Invoice.id.desc())
            ).all(),
            invitations=org_services.invitations_of(db.session, organisation),
            now=utcnow(),
            **context,
        ),
        status,
    )


@bp.get("/organisations/<int:organisation_id>")
def organisation(organisation_id: int):
    return _organisation_page(db.get_or_404(Organisation, organisation_id))


@bp.post("/organisations/<int:organisation_id>/rename")
def rename_organisation(organisation_id: int):
    found = db.get_or_404(Organisation, organisation_id)
    form = RenameOrganisationForm()
    if not form.validate_on_submit():
        return _organisation_page(found, 422, rename_form=form)
    try:
        organisations.rename_organisation(
            db.session,
            found,
            form.name.data,
            actor=current_user,
            ip=request.remote_addr,
        )
    except organisations.OrganisationRefused as refused:
        db.session.rollback()
        form.name.errors = [*form.name.errors, str(refused)]
        return _organisation_page(found, 409, rename_form=form)
    db.session.commit()
    flash(f"Renamed to {found.name}.", "success")
    return redirect_to(url_for("admin.organisation", organisation_id=found.id))
