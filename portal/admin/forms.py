"""Admin forms."""

from __future__ import annotations

from datetime import date, timedelta

from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from portal.admin.metrics import DateRange
from portal.models import Role
from portal.models.accounts import MemberStatus

MAX_DEMO_CONTACTS = 1_000_000


class DemoDataForm(FlaskForm):
    contacts = IntegerField(
        "Contacts",
        default=1000,
        validators=[
            InputRequired("Say how many contacts to generate."),
            NumberRange(
                min=1,
                max=MAX_DEMO_CONTACTS,
                message=f"Choose between 1 and {MAX_DEMO_CONTACTS:,} contacts.",
            ),
        ],
    )
    seed = IntegerField(
        "Seed",
        default=2,
        validators=[
            InputRequired("Give a seed; the same seed gives the same people."),
            NumberRange(min=0, max=2**31 - 1, message="Use a whole number from 0."),
        ],
    )


class DateRangeForm(FlaskForm):
    """The dashboard's date range (query string; nothing to protect from CSRF)."""

    class Meta:
        csrf = False

    start = DateField("From", validators=[Optional()])
    end = DateField("To", validators=[Optional()])

    def resolve(self, today: date, default_days: int, max_days: int) -> DateRange:
        """The range asked for, checked; missing ends are filled in from today
        and the default span. Call after ``validate``: with errors the default
        range is returned."""
        default = DateRange(today - timedelta(days=default_days - 1), today)
        if self.errors:
            return default
        end = self.end.data or today
        start = self.start.data or end - timedelta(days=default_days - 1)
        if end > today:
            self.end.errors = [*self.end.errors, "Choose a day no later than today."]
        elif start > end:
            self.start.errors = [*self.start.errors, "Start on or before the end."]
        elif (end - start).days + 1 > max_days:
            self.start.errors = [
                *self.start.errors,
                f"Choose a range of at most {max_days} days.",
            ]
        else:
            return DateRange(start, end)
        return default


class AuditFilterForm(FlaskForm):
    """The audit log's filters (query string)."""

    class Meta:
        csrf = False

    actor = StringField("Actor", validators=[Optional(), Length(max=254)])
    # Choices: "Any" and the values in the log (set by the view).
    action = SelectField("Action", choices=[SelectChoice("", "Any")], default="")
    target_type = SelectField("Target", choices=[SelectChoice("", "Any")], default="")
    target_id = StringField("Target id", validators=[Optional(), Length(max=64)])
    start = DateField("From", validators=[Optional()])
    end = DateField("To", validators=[Optional()])

    def validate_end(self, field) -> None:
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError("End on or after the start.")


class MemberFilterForm(FlaskForm):
    """The members list's filters (query string)."""

    class Meta:
        csrf = False

    q = StringField("Search", validators=[Optional(), Length(max=254)])
    role = SelectField(
        "Role",
        choices=[
            SelectChoice("", "Any"),
            *(SelectChoice(r.value, r.label) for r in Role),
        ],
        default="",
    )
    status = SelectField(
        "Status",
        choices=[
            SelectChoice("", "Any"),
            *(SelectChoice(s.value, s.value.capitalize()) for s in MemberStatus),
        ],
        default="",
    )
    # Choices: "Any", "No organisation" and the organisations (set by the view).
    organisation = SelectField(
        "Organisation", choices=[SelectChoice("", "Any")], default=""
    )


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _reason_field() -> StringField:
    return StringField(
        "Reason",
        filters=[_strip],
        validators=[
            DataRequired("Say why; the member and the audit log see it."),
            Length(max=500, message="Keep the reason under 500 characters."),
        ],
    )


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=[SelectChoice(r.value, r.label) for r in Role])


class SuspendForm(FlaskForm):
    reason = _reason_field()


class ReinstateForm(FlaskForm):
    reason = _reason_field()


class AdjustPointsForm(FlaskForm):
    delta = IntegerField(
        "Points",
        validators=[
            InputRequired("Give the change, e.g. 25 or -10."),
            NumberRange(
                min=-1_000_000,
                max=1_000_000,
                message="Choose a change between -1,000,000 and 1,000,000.",
            ),
        ],
    )
    reason = _reason_field()

    def validate_delta(self, field) -> None:
        if field.data == 0:
            raise ValidationError("The change must not be 0.")
