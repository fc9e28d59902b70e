"""Register, verify the email address, log in, log out."""

from __future__ import annotations

from datetime import timedelta

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

from portal import ledger, tokens
from portal.audit import record_audit
from portal.auth import services
from portal.auth.forms import (
    ForgotPasswordForm,
    LoginForm,
    RegisterForm,
    ResetPasswordForm,
)
from portal.extensions import db, limiter
from portal.mail import public_url, send_email
from portal.models import Member
from portal.models.base import utcnow
from portal.rendering import redirect_to, render
from portal.security import safe_local_path

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _login_account_key() -> str:
    return "login-account:" + services.account_email_key(request.form.get("email", ""))


def _failed_login(response) -> bool:
    return response.status_code == 401


def _safe_next(target: str | None) -> str:
    """Only paths on this site are followed after login; anything else goes
    home (see ``portal.security.safe_local_path``)."""
    return safe_local_path(target) or url_for("main.home")


def _begin_login(member) -> None:
    # A new session at login: nothing from the anonymous session carries over,
    # and the token identifies this login server-side.
    session.clear()
    token = services.start_session(
        member, request.remote_addr, request.headers.get("User-Agent")
    )
    session[services.SESSION_TOKEN_KEY] = token
    login_user(member)


def send_verification_email(member: Member, *, welcome: bool) -> None:
    """Email ``member`` a new single-use link that verifies their address
    (with the welcome text on registration). The link is on ``PUBLIC_URL``."""
    hours = current_app.config["EMAIL_VERIFICATION_HOURS"]
    token = services.start_email_verification(
        db.session, member, timedelta(hours=hours), utcnow()
    )
    send_email(
        member.email,
        "Welcome to Tessera: confirm your email address"
        if welcome
        else "Confirm your email address for Tessera",
        render_template(
            "emails/verify_email.txt",
            member=member,
            welcome=welcome,
            hours=hours,
            verify_link=public_url("auth.verify_email", token=token),
            login_link=public_url("auth.login"),
            grant=current_app.config["SIGNUP_GRANT_POINTS"],
        ),
        kind="welcome" if welcome else "verify_email",
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
                form.email.data, form.password.data, form.display_name.data
            )
        except services.EmailTaken:
            form.email.errors.append(
                "An account with this email already exists. Log in instead."
            )
        else:
            record_audit(
                "member.registered", actor=member, target=member, ip=request.remote_addr
            )
            send_verification_email(member, welcome=True)
            _begin_login(member)
            db.session.commit()
            flash(
                f"Welcome to Tessera, {member.display_name}. We sent a link to "
                f"{member.email}: follow it to confirm your address.",
                "success",
            )
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


def _link_page(status: int, **context):
    response = render("auth/verify.html", "auth/verify.html", status=status, **context)
    # The token is in this page's address: never send it on as a referrer.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _refused_link(refused: tokens.TokenRefused):
    status = 400 if isinstance(refused, tokens.TokenInvalid) else 410
    return _link_page(status, refused=refused)


@bp.get("/verify/<token>")
def verify_email(token: str):
    """The emailed link: a button that confirms (a GET changes nothing, so mail
    scanners that open links do not use it up), or why the link cannot work."""
    try:
        member = services.verification_member(db.session, token, utcnow())
    except tokens.TokenRefused as refused:
        return _refused_link(refused)
    return _link_page(200, member=member, token=token)


@bp.post("/verify/<token>")
def confirm_email(token: str):
    """Use the link up: the address is verified and the sign-up grant vested,
    in one transaction that at most one of several racing requests completes."""
    # End this request's read snapshot: the write below has a session of its
    # own that holds the write lock from its start on SQLite.
    db.session.rollback()
    grant = current_app.config["SIGNUP_GRANT_POINTS"]
    try:
        with ledger.write_transaction() as write:
            member = services.verify_email(write, token, grant, utcnow())
            record_audit(
                "member.email_verified",
                actor=member,
                target=member,
                ip=request.remote_addr,
                session=write,
            )
    except tokens.TokenRefused as refused:
        return _refused_link(refused)
    message = f"Thanks: {member.email} is confirmed."
    if grant:
        message += f" Your {grant} starting points are ready to spend."
    flash(message, "success")
    if current_user.is_authenticated:
        return redirect_to(url_for("main.home"))
    return redirect_to(url_for("auth.login"))


@bp.post("/verification/resend")
@login_required
@limiter.limit(
    lambda: current_app.config["VERIFY_RESEND_LIMIT"],
    key_func=lambda: f"verify-resend:{current_user.id}",
)
def resend_verification():
    """Send a new verification link (the older ones stop working)."""
    if current_user.email_verified:
        flash("Your email address is already confirmed.", "info")
        return redirect_to(url_for("main.home"))
    send_verification_email(current_user, welcome=False)
    db.session.commit()
    flash(
        f"We sent a new link to {current_user.email}. It works once, within "
        f"{current_app.config['EMAIL_VERIFICATION_HOURS']} hours.",
        "success",
    )
    return redirect_to(url_for("main.home"))


def _reset_address_key() -> str:
    return "reset-address:" + services.account_email_key(request.form.get("email", ""))


RESET_SENT = (
    "If an account uses {email}, we sent it a link to choose a new password. "
    "The link works once, within {minutes} minutes."
)


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["PASSWORD_RESET_LIMIT_PER_IP"],
    methods=["POST"],
    key_func=lambda: "reset-ip:" + (request.remote_addr or "unknown"),
)
@limiter.limit(
    lambda: current_app.config["PASSWORD_RESET_LIMIT_PER_ADDRESS"],
    methods=["POST"],
    key_func=_reset_address_key,
)
def forgot_password():
    """Ask for a reset link. The answer is the same whether or not the address
    has an account, so the page tells nobody who is a member."""
    if current_user.is_authenticated:
        return redirect(url_for("account.profile"))
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        minutes = current_app.config["PASSWORD_RESET_MINUTES"]
        started = services.start_password_reset(
            db.session, form.email.data, timedelta(minutes=minutes), utcnow()
        )
        if started is not None:
            member, token = started
            send_email(
                member.email,
                "Choose a new password for Tessera",
                render_template(
                    "emails/reset_password.txt",
                    member=member,
                    minutes=minutes,
                    reset_link=public_url("auth.reset_password", token=token),
                    forgot_link=public_url("auth.forgot_password"),
                ),
                kind="reset_password",
            )
            record_audit(
                "member.password_reset_requested",
                actor=None,
                target=member,
                ip=request.remote_addr,
            )
        db.session.commit()
        flash(RESET_SENT.format(email=form.email.data.strip(), minutes=minutes), "info")
        return redirect_to(url_for("auth.login"))
    status = 422 if form.errors else 200
    return render("auth/forgot.html", "auth/forgot.html", status=status, form=form)


def _reset_page(status: int, **context):
    response = render("auth/reset.html", "auth/reset.html", status=status, **context)
    # The token is in this page's address: never send it on as a referrer.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """The emailed link: a form for the new password (a GET uses nothing up);
    the POST uses the link up, sets the password and ends every session."""
    form = ResetPasswordForm()
    try:
        member = services.password_reset_member(db.session, token, utcnow())
    except tokens.TokenRefused as refused:
        status = 400 if isinstance(refused, tokens.TokenInvalid) else 410
        return _reset_page(status, refused=refused)
    if not form.validate_on_submit():
        status = 422 if form.errors else 200
        return _reset_page(status, form=form, member=member, token=token)
    db.session.rollback()
    try:
        with ledger.write_transaction() as write:
            member = services.reset_password(write, token, form.password.data, utcnow())
            record_audit(
                "member.password_reset",
                actor=member,
                target=member,
                ip=request.remote_addr,
                session=write,
            )
    except tokens.TokenRefused as refused:
        status = 400 if isinstance(refused, tokens.TokenInvalid) else 410
        return _reset_page(status, refused=refused)
    if current_user.is_authenticated:
        logout_user()
        session.clear()
    flash("Your password is changed. Log in with the new one.", "success")
    return redirect_to(url_for("auth.login"))
