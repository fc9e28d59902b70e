"""Register, log in, log out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from portal.audit import record_audit
from portal.auth import services
from portal.auth.forms import LoginForm, RegisterForm
from portal.extensions import db, limiter
from portal.mail import send_email
from portal.rendering import redirect_to, render

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _login_account_key() -> str:
    return "login-account:" + services.account_email_key(request.form.get("email", ""))


def _failed_login(response) -> bool:
    return response.status_code == 401


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login."""
    if not target:
        return url_for("main.home")
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
    ):
        return url_for("main.home")
    return target


def _begin_login(member) -> None:
    # A new session at login: nothing from the anonymous session carries over,
    # and the token identifies this login server-side.
    session.clear()
    token = services.start_session(
        member, request.remote_addr, request.headers.get("User-Agent")
    )
    session[services.SESSION_TOKEN_KEY] = token
    login_user(member)


def send_welcome_email(member) -> None:
    send_email(
        member.email,
        "Welcome to Tessera",
        render_template("emails/welcome.txt", member=member),
        kind="welcome",
    )


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["REGISTER_LIMIT_PER_IP"],
    methods=["POST"],
    key_func=lambda: "register-ip:" + (request.remote_addr or "unknown"),
)
def register():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            member = services.register_member(
                form.email.data,
                form.password.data,
                form.display_name.data,
                signup_grant=current_app.config["SIGNUP_GRANT_POINTS"],
            )
        except services.EmailTaken:
            form.email.errors.append(
                "An account with this email already exists. Log in instead."
            )
        else:
            record_audit(
                "member.registered", actor=member, target=member, ip=request.remote_addr
            )
            send_welcome_email(member)
            _begin_login(member)
            db.session.commit()
            flash(f"Welcome to Tessera, {member.display_name}.", "success")
            return redirect_to(url_for("main.home"))
    status = 422 if form.errors else 200
    return render(
        "auth/register.html", "auth/_register_form.html", status=status, form=form
    )


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_IP"],
    methods=["POST"],
    key_func=lambda: "login-ip:" + (request.remote_addr or "unknown"),
    deduct_when=_failed_login,
)
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
    methods=["POST"],
    key_func=_login_account_key,
    deduct_when=_failed_login,
)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        member = services.authenticate(form.email.data, form.password.data)
        if member is not None:
            _begin_login(member)
            record_audit(
                "member.logged_in", actor=member, target=member, ip=request.remote_addr
            )
            db.session.commit()
            return redirect_to(_safe_next(request.args.get("next")))
        db.session.rollback()
        # One message for unknown email, wrong password and suspended account.
        form.form_errors.append(
            "That email and password do not match an active account."
        )
        status = 401
    elif form.errors:
        status = 422
    return render("auth/login.html", "auth/_login_form.html", status=status, form=form)


@bp.post("/logout")
@login_required
def logout():
    token = session.get(services.SESSION_TOKEN_KEY)
    if token:
        services.end_session(token)
    record_audit(
        "member.logged_out",
        actor=current_user,
        target=current_user,
        ip=request.remote_addr,
    )
    db.session.commit()
    logout_user()
    session.clear()
    flash("You have logged out.", "info")
    return redirect(url_for("main.home"))
