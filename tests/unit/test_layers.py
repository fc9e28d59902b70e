"""Layering rules that an import graph cannot see.

import-linter (``lint-imports``, contracts in pyproject.toml) checks which
modules import which. It cannot ban a *name* inside a module such as
``flask.request``: services and jobs may use ``flask.current_app``, but never the
request, the session, ``g`` or templates. This test reads the source instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

from portal.config import PROJECT_ROOT

# Request-scoped state and response building: only the web layer may use them.
BANNED_NAMES = {
    "flask": {
        "request",
        "session",
        "g",
        "render_template",
        "render_template_string",
        "stream_template",
        "stream_template_string",
        "flash",
        "abort",
        "redirect",
        "make_response",
    },
    "flask_login": {"current_user", "login_user", "logout_user", "login_required"},
    "htmx_flask": {"request"},
}

# The web layer: views (``routes.py``, or ``<part>_routes.py`` where an area
# serves several blueprints), forms, and the app's request plumbing.
WEB_FILE_NAMES = {"routes.py", "forms.py"}
WEB_FILE_SUFFIX = "_routes.py"
WEB_MODULES = {
    "portal/__init__.py",
    "portal/auth/login.py",
    "portal/authz.py",
    "portal/cli.py",
    "portal/contacts/mine.py",
    "portal/errors.py",
    "portal/extensions.py",
    "portal/ratelimits.py",
    "portal/rendering.py",
    "portal/security.py",
    "portal/templating.py",
}


def banned_uses(source: str) -> list[str]:
    """Every banned name ``source`` imports or reaches as ``module.name``."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in BANNED_NAMES:
            for alias in node.names:
                if alias.name in BANNED_NAMES[node.module] or alias.name == "*":
                    found.append(f"{node.module}.{alias.name} (line {node.lineno})")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in BANNED_NAMES:
                    aliases[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr in BANNED_NAMES[aliases[node.value.id]]
        ):
            found.append(f"{aliases[node.value.id]}.{node.attr} (line {node.lineno})")
    return found


def non_web_modules() -> list[Path]:
    files = sorted(
        [
            *(PROJECT_ROOT / "portal").rglob("*.py"),
            *(PROJECT_ROOT / "workers").rglob("*.py"),
        ]
    )
    return [
        path
        for path in files
        if path.name not in WEB_FILE_NAMES
        and not path.name.endswith(WEB_FILE_SUFFIX)
        and path.relative_to(PROJECT_ROOT).as_posix() not in WEB_MODULES
    ]


def test_the_checker_finds_request_state_and_templates():
    """The scan catches imported names, star imports and module attributes."""
    source = (
        "import flask\n"
        "import flask_login as fl\n"
        "from flask import current_app, request\n"
        "from flask import *\n"
        "def f():\n"
        "    return flask.session, fl.current_user, flask.current_app\n"
    )
    assert banned_uses(source) == [
        "flask.request (line 3)",
        "flask.* (line 4)",
        "flask.session (line 6)",
        "flask_login.current_user (line 6)",
    ]


def test_services_and_jobs_use_no_request_session_or_templates():
    """Outside the web layer no module touches the request, the session, g,
    flashes, aborts or templates: services take plain arguments."""
    modules = non_web_modules()
    assert any(path.name == "services.py" for path in modules)
    assert any(path.parts[-2] == "workers" for path in modules)
    offenders = {
        path.relative_to(PROJECT_ROOT).as_posix(): uses
        for path in modules
        if (uses := banned_uses(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}
