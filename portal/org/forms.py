"""Forms of the organisation area."""

from __future__ import annotations

from flask_wtf import FlaskForm

from portal.auth.forms import email_address_field


class InviteForm(FlaskForm):
    email = email_address_field(
        "Email", missing="Enter the email address to invite.", autocomplete="off"
    )


class ConfirmForm(FlaskForm):
    """A button that changes something: only the CSRF token."""
