"""The member's own profile and password."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, session, url_for
from flask_login import current_user, login_required

from portal.audit import record_audit
from portal.auth import services
from portal.auth.forms import PasswordChangeForm, ProfileForm
from portal.extensions import db
from portal.rendering import render

bp = Blueprint("account", __name__, url_prefix="/account")


def _render_profile(profile_form, password_form, status=200):
    return render(
        "account/profile.html",
        "account/profile.html",
        status=status,
        profile_form=profile_form,
        password_form=password_form,
    )


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    profile_form = ProfileForm(obj=current_user, prefix="profile")
    password_form = PasswordChangeForm(prefix="password", formdata=None)
    if profile_form.validate_on_submit():
        current_user.display_name = profile_form.display_name.data.strip()
        record_audit(
            "member.profile_updated",
            actor=current_user,
            target=current_user,
            ip=request.remote_addr,
        )
        db.session.commit()
        flash("Your profile is saved.", "success")
        return redirect(url_for("account.profile"))
    return _render_profile(
        profile_form, password_form, 422 if profile_form.errors else 200
    )


@bp.post("/password")
@login_required
def change_password():
    profile_form = ProfileForm(obj=current_user, prefix="profile", formdata=None)
    password_form = PasswordChangeForm(prefix="password")
    if password_form.validate_on_submit():
        if not services.verify_password(
            current_user.password_hash, password_form.current_password.data
        ):
            password_form.current_password.errors.append(
                "That is not your current password."
            )
        else:
            member = current_user._get_current_object()
            services.change_password(member, password_form.new_password.data)
            # Every other login of this member ends; this one starts afresh.
            services.end_all_sessions(member)
            token = services.start_session(
                member, request.remote_addr, request.headers.get("User-Agent")
            )
            session[services.SESSION_TOKEN_KEY] = token
            record_audit(
                "member.password_changed",
                actor=member,
                target=member,
                ip=request.remote_addr,
            )
            db.session.commit()
            flash(
                "Your password is changed. Other devices have been logged out.",
                "success",
            )
            return redirect(url_for("account.profile"))
    return _render_profile(profile_form, password_form, 422)
