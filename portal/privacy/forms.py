"""The privacy center's forms (every action posts with its CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from portal.privacy.report import FIELD_LABELS

CORRECTABLE_FIELDS = ("title", "first_name", "last_name", "phone", "city", "country")


class AccessForm(FlaskForm):
    email = StringField(
        "Your business email address",
        validators=[
            DataRequired("Enter the business email address you want to look up."),
            Length(max=254, message="That email address is too long."),
        ],
        render_kw={"autocomplete": "email", "inputmode": "email"},
    )


class CorrectForm(FlaskForm):
    field = SelectField(
        "Detail",
        choices=[SelectChoice(name, FIELD_LABELS[name]) for name in CORRECTABLE_FIELDS],
    )
    value = StringField(
        "Correct value", validators=[Length(max=200, message="Too long.")]
    )


class DisputeForm(FlaskForm):
    details = TextAreaField(
        "What is wrong",
        validators=[
            DataRequired("Say what is wrong, so a moderator can put it right."),
            Length(max=2000, message="Keep it under 2,000 characters."),
        ],
    )


class EraseForm(FlaskForm):
    kind = RadioField(
        "What do you want",
        choices=[
            SelectChoice("erase", "Erase my record"),
            SelectChoice("object", "I object to being listed (opt out)"),
        ],
        default="erase",
    )


class ActionForm(FlaskForm):
    """A button: only the CSRF token."""


class DecisionForm(FlaskForm):
    reason = TextAreaField(
        "What was done, or why it is denied",
        validators=[
            DataRequired("Say what was done or why."),
            Length(max=2000, message="Keep it under 2,000 characters."),
        ],
    )


class SuppressionUploadForm(FlaskForm):
    file = FileField("File of SHA-256 hashes")


class ConsentForm(FlaskForm):
    attribution = RadioField(
        "How your contributions are signed",
        choices=[
            SelectChoice("pseudonym", "With my member code (e.g. member 7F3A)"),
            SelectChoice("display_name", "With my display name"),
        ],
    )
    notify_royalties = BooleanField("Email me when I earn royalties")
    notify_challenges = BooleanField("Email me when my contributions are challenged")
    weekly_digest = BooleanField("Send me a weekly digest")


class DeleteAccountForm(FlaskForm):
    password = PasswordField(
        "Your password",
        validators=[DataRequired("Enter your password to delete your account.")],
        render_kw={"autocomplete": "current-password"},
    )
