"""Admin forms for invoices and plans."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    DecimalField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Email,
    Length,
    NumberRange,
    Optional,
)

from portal.billing.invoices import MAX_DESCRIPTION, MAX_QUANTITY, LineInput
from portal.billing.plans import MAX_CUSTOM_ALLOWANCE, currency_choices
from portal.models.accounts import Plan


def _currencies() -> list[SelectChoice]:
    return [SelectChoice(code, label) for code, label in currency_choices()]


# Blank line rows the new-invoice form offers (empty rows are ignored).
LINE_ROWS = 5


class LineForm(Form):
    description = StringField(
        "Description", validators=[Optional(), Length(max=MAX_DESCRIPTION)]
    )
    quantity = IntegerField(
        "Quantity",
        validators=[
            Optional(),
            NumberRange(
                min=1, max=MAX_QUANTITY, message=f"From 1 to {MAX_QUANTITY:,}."
            ),
        ],
    )
    unit_price = DecimalField(
        "Unit price",
        places=2,
        validators=[
            Optional(),
            NumberRange(min=0, message="A price cannot be negative."),
        ],
    )
    points_per_unit = IntegerField(
        "Points per unit",
        validators=[
            Optional(),
            NumberRange(min=0, message="Points cannot be negative."),
        ],
    )

    def is_blank(self) -> bool:
        return not any(
            (field.raw_data or [""])[0].strip()
            for field in (
                self.description,
                self.quantity,
                self.unit_price,
                self.points_per_unit,
            )
        )


class InvoiceForm(FlaskForm):
    member_email = StringField(
        "Member's email",
        validators=[Optional(), Email("Enter an email address."), Length(max=254)],
    )
    organisation_id = SelectField("Organisation", choices=[], validate_choice=True)
    currency = SelectField("Currency", choices=[])
    lines = FieldList(FormField(LineForm), min_entries=LINE_ROWS)

    def __init__(self, *args, organisations=(), default_currency="EUR", **kwargs):
        super().__init__(*args, **kwargs)
        self.organisation_id.choices = [SelectChoice("", "— none: bill a member —")] + [
            SelectChoice(str(org.id), org.name) for org in organisations
        ]
        self.currency.choices = _currencies()
        if not self.currency.data:
            self.currency.data = default_currency

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if bool(self.member_email.data) == bool(self.organisation_id.data):
            self.form_errors.append(
                "Bill either a member (by email) or an organisation, not both."
            )
            valid = False
        filled = [row for row in self.lines if not row.form.is_blank()]
        if not filled:
            self.form_errors.append("Add at least one line.")
            valid = False
        for number, row in enumerate(filled, start=1):
            line = row.form
            missing = [
                field.label.text.lower()
                for field in (line.description, line.quantity, line.unit_price)
                if field.data in (None, "")
            ]
            if missing:
                self.form_errors.append(
                    f"Line {number}: fill in the {' and '.join(missing)}."
                )
                valid = False
        return valid

    def line_inputs(self) -> list[LineInput]:
        return [
            LineInput(
                description=row.form.description.data or "",
                quantity=row.form.quantity.data,
                unit_price=row.form.unit_price.data,
                points_per_unit=row.form.points_per_unit.data or 0,
            )
            for row in self.lines
            if not row.form.is_blank()
        ]


class PaymentForm(FlaskForm):
    reference = StringField(
        "Payment reference",
        validators=[Optional(), Length(max=100)],
        description="The bank transfer's reference, for reconciliation.",
    )


class VoidForm(FlaskForm):
    reason = StringField(
        "Reason",
        validators=[
            DataRequired("Say why the invoice is void."),
            Length(max=300),
        ],
    )


class ActionForm(FlaskForm):
    """A button that only needs its CSRF token (issuing)."""


class PlanForm(FlaskForm):
    plan = SelectField(
        "Plan",
        choices=[SelectChoice(plan.value, plan.value.capitalize()) for plan in Plan],
    )
    seats = IntegerField(
        "Seats",
        validators=[DataRequired("Give the number of seats."), NumberRange(min=1)],
    )
    custom_allowance = IntegerField(
        "Enterprise allowance per seat (points a month)",
        validators=[
            Optional(),
            NumberRange(
                min=1,
                max=MAX_CUSTOM_ALLOWANCE,
                message=f"From 1 to {MAX_CUSTOM_ALLOWANCE:,} points.",
            ),
        ],
    )
    currency = SelectField("Currency", choices=[])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency.choices = _currencies()
