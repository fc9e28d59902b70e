"""Contact forms. The checks themselves live in the services, which every
path (form, CSV, operator import) shares; the forms carry the values, the
CSRF token and the attestation, and show each service message beside its field."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from portal.contactfields import CONTACT_FIELDS
from portal.contacts.services import ATTESTATION_TEXT
from portal.models.moderation import FlagKind


class ContactFieldsForm(FlaskForm):
    first_name = StringField("First name", render_kw={"autocomplete": "off"})
    last_name = StringField("Last name", render_kw={"autocomplete": "off"})
    title = StringField("Job title")
    company = StringField(
        "Company", render_kw={"autocomplete": "off", "list": "company-suggestions"}
    )
    company_domain = StringField(
        "Company website", render_kw={"placeholder": "acme.com"}
    )
    email = StringField(
        "Business email",
        render_kw={
            "type": "email",
            "autocomplete": "off",
            "placeholder": "name@company.com",
        },
    )
    phone = StringField(
        "Business phone", render_kw={"type": "tel", "placeholder": "+44 20 7946 0958"}
    )
    city = StringField("City")
    country = StringField("Country", render_kw={"placeholder": "GB or United Kingdom"})

    def values(self) -> dict[str, str]:
        return {name: getattr(self, name).data or "" for name in CONTACT_FIELDS}

    def show_problems(self, problems: dict[str, str]) -> None:
        """Put each service message beside its field; the rest above the form."""
        for name, message in problems.items():
            form_field = getattr(self, name, None) if name else None
            if form_field is not None:
                form_field.errors = [*form_field.errors, message]
            else:
                self.form_errors.append(message)


class ContributeForm(ContactFieldsForm):
    attest = BooleanField(ATTESTATION_TEXT)


class ChallengeForm(FlaskForm):
    kind = SelectField(
        "What is wrong?",
        choices=[SelectChoice(k.value, k.label) for k in FlagKind if k.is_challenge],
        validators=[DataRequired("Choose what is wrong with this contact.")],
    )
    details = TextAreaField(
        "Details for the moderator",
        validators=[
            Length(max=2000, message="Keep the details under 2,000 characters.")
        ],
    )


class ImportForm(FlaskForm):
    file = FileField(
        "CSV file", validators=[FileRequired("Choose a CSV file to upload.")]
    )
    attest = BooleanField(
        "For every contact in this file: "
        + ATTESTATION_TEXT[0].lower()
        + ATTESTATION_TEXT[1:]
    )
