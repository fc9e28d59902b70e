"""Account forms. Each error is shown beside its field."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import (
    DataRequired,
    Email,
    EqualTo,
    Length,
    ValidationError,
)

PASSWORD_MIN = 10
PASSWORD_MAX = 128


def _password_field(label: str) -> PasswordField:
    return PasswordField(
        label,
        validators=[
            DataRequired("Choose a password."),
            Length(
                min=PASSWORD_MIN,
                max=PASSWORD_MAX,
                message=f"Use {PASSWORD_MIN} to {PASSWORD_MAX} characters.",
            ),
        ],
        render_kw={"autocomplete": "new-password", "minlength": PASSWORD_MIN},
    )


def _repeat_field(label: str, missing: str, of: str = "password") -> PasswordField:
    """The field that repeats the new password in field ``of``."""
    return PasswordField(
        label,
        validators=[
            DataRequired(missing),
            EqualTo(of, message="The two passwords are not the same."),
        ],
        render_kw={"autocomplete": "new-password"},
    )


def email_address_field(
    label: str, missing: str = "Enter your email address.", autocomplete: str = "email"
) -> EmailField:
    """An email field that must hold a well-formed address (registration,
    invitations); the same messages wherever one is asked for."""
    return EmailField(
        label,
        validators=[
            DataRequired(missing),
            Length(max=254, message="That email address is too long."),
            Email(
                "Enter an email address like name@company.com.",
                check_deliverability=False,
            ),
        ],
        render_kw={"autocomplete": autocomplete},
    )


class RegisterForm(FlaskForm):
    email = email_address_field("Work email")
    display_name = StringField(
        "Your name",
        validators=[
            DataRequired("Tell us what to call you."),
            Length(max=100, message="Keep your name under 100 characters."),
        ],
        render_kw={"autocomplete": "name"},
    )
    password = _password_field("Password")
    confirm = _repeat_field("Repeat password", "Repeat your password.")

    def validate_password(self, field: PasswordField) -> None:
        if (
            self.email.data
            and field.data
            and self.email.data.lower() in field.data.lower()
        ):
            raise ValidationError("Your password must not contain your email address.")


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[
            DataRequired("Enter your email address."),
            Length(max=254, message="That email address is too long."),
        ],
        render_kw={"autocomplete": "username"},
    )


class LoginForm(ForgotPasswordForm):
    password = PasswordField(
        "Password",
        validators=[
            DataRequired("Enter your password."),
            Length(max=PASSWORD_MAX, message="That password is too long."),
        ],
        render_kw={"autocomplete": "current-password"},
    )


class ResetPasswordForm(FlaskForm):
    password = _password_field("New password")
    confirm = _repeat_field("Repeat new password", "Repeat your new password.")


class ProfileForm(FlaskForm):
    display_name = StringField(
        "Your name",
        validators=[
            DataRequired("Tell us what to call you."),
            Length(max=100, message="Keep your name under 100 characters."),
        ],
    )


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(
        "Current password",
        validators=[DataRequired("Enter your current password.")],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = _password_field("New password")
    confirm = _repeat_field(
        "Repeat new password", "Repeat your new password.", of="new_password"
    )
