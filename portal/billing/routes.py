"""Admin pages for paying instead: invoices and organisations' plans.

Views are thin: check the form, call the billing service or the payment
provider inside one write transaction with its audit entry (and emails), then
redirect. Admins only.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from portal import ledger, mail
from portal.admin.organisations import organisations_with_counts
from portal.audit import record_audit
from portal.auth.services import find_member
from portal.authz import admin_required
from portal.billing import invoices as invoice_service
from portal.billing.forms import (
    ActionForm,
    InvoiceForm,
    PaymentForm,
    PlanForm,
    VoidForm,
)
from portal.billing.invoices import InvoiceError
from portal.billing.plans import PlanError, allowance_per_seat, change_plan
from portal.billing.providers import provider_for
from portal.billing.rules import BillingRules
from portal.extensions import db
from portal.models import Invoice, InvoiceState, Member, Organisation
from portal.models.accounts import Plan
from portal.models.base import utcnow
from portal.pagination import paginate
from portal.rendering import redirect_to, render

bp = Blueprint("billing", __name__, url_prefix="/admin")


@bp.before_request
@admin_required
def _admins_only():
    """Every billing page is for admins only (403 for others)."""


def _rules() -> BillingRules:
    return BillingRules.from_config(current_app.config)


def _organisations() -> list[Organisation]:
    return list(db.session.scalars(select(Organisation).order_by(Organisation.name)))


@bp.get("/invoices")
def invoices():
    state = request.args.get("state") or None
    query = (request.args.get("q") or "").strip()
    statement = (
        select(Invoice)
        .outerjoin(Member, Member.id == Invoice.member_id)
        .outerjoin(Organisation, Organisation.id == Invoice.organisation_id)
        .order_by(Invoice.id.desc())
    )
    if state in {s.value for s in InvoiceState}:
        statement = statement.where(Invoice.state == InvoiceState(state))
    else:
        state = None
    if query:
        pattern = f"%{query[:100].lower()}%"
        statement = statement.where(
            or_(
                Invoice.number.ilike(pattern),
                Member.email.ilike(pattern),
                Member.display_name.ilike(pattern),
                Organisation.name.ilike(pattern),
            )
        )
    page = paginate(statement, request.args.get("page"))
    return render(
        "billing/invoices.html",
        "billing/_invoices_table.html",
        page=page,
        state=state,
        q=query,
        states=list(InvoiceState),
    )


def _invoice_form(**kwargs) -> InvoiceForm:
    return InvoiceForm(
        organisations=_organisations(),
        default_currency=_rules().default_currency,
        **kwargs,
    )


@bp.get("/invoices/new")
def new_invoice():
    form = _invoice_form()
    organisation_id = request.args.get("organisation", "")
    if not form.is_submitted() and organisation_id.isdigit():
        organisation = db.session.get(Organisation, int(organisation_id))
        if organisation is not None:
            form.organisation_id.data = str(organisation.id)
            form.currency.data = organisation.currency
    return render("billing/new_invoice.html", "billing/_invoice_form.html", form=form)


@bp.post("/invoices")
def create_invoice():
    form = _invoice_form()
    if form.validate_on_submit():
        member = organisation = None
        if form.member_email.data:
            member = find_member(form.member_email.data)
        else:
            organisation = db.session.get(Organisation, int(form.organisation_id.data))
        if member is None and organisation is None:
            form.member_email.errors = ["No member has that email."]
        else:
            created = _create_invoice(form, member, organisation)
            if created is not None:
                flash(f"Draft {created.label} saved. Issue it to send it.", "success")
                return redirect_to(url_for("billing.invoice", invoice_id=created.id))
    return render(
        "billing/new_invoice.html",
        "billing/_invoice_form.html",
        status=422,
        form=form,
    )


def _create_invoice(form: InvoiceForm, member, organisation) -> Invoice | None:
    """The draft, or None with the refusal added to the form's errors."""
    db.session.rollback()
    try:
        with ledger.write_transaction() as session:
            invoice = invoice_service.create_invoice(
                session,
                lines=form.line_inputs(),
                currency=form.currency.data,
                rules=_rules(),
                now=utcnow(),
                member=member,
                organisation=organisation,
                created_by=current_user,
            )
            record_audit(
                "invoice.created",
                actor=current_user,
                target=invoice,
                details={
                    "total": str(invoice.total),
                    "currency": invoice.currency,
                    "points": invoice.points,
                },
                ip=request.remote_addr,
                session=session,
            )
    except InvoiceError as refused:
        form.form_errors.append(refused.message)
        return None
    return invoice


def _invoice_page(invoice: Invoice, status: int = 200, action_error: str = ""):
    return render(
        "billing/invoice.html",
        "billing/invoice.html",
        status=status,
        invoice=invoice,
        issue_form=ActionForm(),
        pay_form=PaymentForm(formdata=None),
        void_form=VoidForm(formdata=None),
        action_error=action_error,
    )


@bp.get("/invoices/<int:invoice_id>")
def invoice(invoice_id: int):
    return _invoice_page(db.get_or_404(Invoice, invoice_id))


def _email_invoice(session: Session, invoice: Invoice) -> None:
    for member in invoice_service.billing_contacts(session, invoice):
        mail.send_email(
            member.email,
            f"Invoice {invoice.number} from Tessera",
            render_template("emails/invoice_issued.txt", invoice=invoice, to=member),
            kind="invoice_issued",
            session=session,
        )


def _email_credits(session: Session, invoice: Invoice, credits) -> None:
    for credit in credits:
        mail.send_email(
            credit.member.email,
            f"{credit.points:,} points added to your Tessera balance",
            render_template(
                "emails/points_purchased.txt", invoice=invoice, credit=credit
            ),
            kind="points_purchased",
            session=session,
        )


def _act(invoice_id: int, action: str, form, perform, done: str):
    """Run ``perform(session, provider, invoice)`` in one write transaction
    with its audit entry, then show the invoice with ``done``; a refusal
    re-renders the invoice with the reason (422 bad input, 409 wrong state)."""
    existing = db.get_or_404(Invoice, invoice_id)
    if not form.validate_on_submit():
        errors = [e for field_errors in form.errors.values() for e in field_errors]
        return _invoice_page(existing, 422, " ".join(errors))
    db.session.rollback()
    try:
        with ledger.write_transaction() as session:
            invoice = session.get(Invoice, invoice_id)
            provider = provider_for(invoice, _rules())
            details = perform(session, provider, invoice) or {}
            record_audit(
                f"invoice.{action}",
                actor=current_user,
                target=invoice,
                details={"number": invoice.number, **details},
                ip=request.remote_addr,
                session=session,
            )
    except InvoiceError as refused:
        return _invoice_page(db.session.get(Invoice, invoice_id), 409, refused.message)
    flash(done, "success")
    return redirect_to(url_for("billing.invoice", invoice_id=invoice_id))


@bp.post("/invoices/<int:invoice_id>/issue")
def issue_invoice(invoice_id: int):
    def perform(session, provider, invoice):
        provider.issue(session, invoice, now=utcnow())
        _email_invoice(session, invoice)

    return _act(invoice_id, "issued", ActionForm(), perform, "Invoice issued and sent.")


@bp.post("/invoices/<int:invoice_id>/pay")
def pay_invoice(invoice_id: int):
    form = PaymentForm()

    def perform(session, provider, invoice):
        credits = provider.mark_paid(
            session, invoice, now=utcnow(), reference=form.reference.data
        )
        _email_credits(session, invoice, credits)
        return {
            "reference": form.reference.data or None,
            "credited": {str(c.member.id): c.points for c in credits},
        }

    return _act(
        invoice_id, "paid", form, perform, "Payment recorded; the points are credited."
    )


@bp.post("/invoices/<int:invoice_id>/void")
def void_invoice(invoice_id: int):
    form = VoidForm()

    def perform(session, provider, invoice):
        provider.void(session, invoice, now=utcnow(), reason=form.reason.data)
        return {"reason": form.reason.data}

    return _act(invoice_id, "voided", form, perform, "Invoice voided.")


@bp.get("/plans")
def plans():
    rules = _rules()
    return render(
        "billing/plans.html",
        "billing/plans.html",
        rows=[
            (org, members, allowance_per_seat(org, rules))
            for org, members in organisations_with_counts(db.session)
        ],
        rules=rules,
    )


def _plan_page(organisation: Organisation, form: PlanForm, status: int = 200):
    return render(
        "billing/plan.html",
        "billing/_plan_form.html",
        status=status,
        organisation=organisation,
        form=form,
        rules=_rules(),
    )


@bp.get("/plans/<int:organisation_id>")
def plan(organisation_id: int):
    organisation = db.get_or_404(Organisation, organisation_id)
    form = PlanForm(
        data={
            "plan": organisation.plan.value,
            "seats": organisation.seats,
            "custom_allowance": organisation.custom_allowance,
            "currency": organisation.currency,
        }
    )
    return _plan_page(organisation, form)


@bp.post("/plans/<int:organisation_id>")
def change_organisation_plan(organisation_id: int):
    organisation = db.get_or_404(Organisation, organisation_id)
    form = PlanForm()
    if not form.validate_on_submit():
        return _plan_page(organisation, form, 422)
    db.session.rollback()
    try:
        with ledger.write_transaction() as session:
            target = session.get(Organisation, organisation_id)
            change = change_plan(
                session,
                target,
                plan=Plan(form.plan.data),
                seats=form.seats.data,
                currency=form.currency.data,
                custom_allowance=form.custom_allowance.data,
                rules=_rules(),
            )
            record_audit(
                "organisation.plan_changed",
                actor=current_user,
                target=target,
                details={"before": change.before, "after": change.after},
                ip=request.remote_addr,
                session=session,
            )
    except PlanError as refused:
        getattr(form, refused.field).errors = [refused.message]
        return _plan_page(db.session.get(Organisation, organisation_id), form, 422)
    flash(f"{organisation.name} is on {form.plan.data.capitalize()} now.", "success")
    return redirect_to(url_for("billing.plans"))
