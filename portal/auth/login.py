"""Flask-Login's side of accounts: the user loader checks the session token.

Web layer: it reads the request's session. Services never import it.
"""

from __future__ import annotations

from flask import session
from flask_login import LoginManager

from portal.auth.services import SESSION_TOKEN_KEY, load_session_member


def init_login_manager(login_manager: LoginManager) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to see that page."
    login_manager.login_message_category = "info"
    # Basic protection: a session used from a different browser is dropped.
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(member_id: str):
        token = session.get(SESSION_TOKEN_KEY)
        if not token or not member_id.isdigit():
            return None
        return load_session_member(int(member_id), token)
