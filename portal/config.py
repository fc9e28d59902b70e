"""Settings read from the environment through small typed helpers.

Every number the SPEC calls a default lives here, so an operator can change it
without touching code.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE_PATH = PROJECT_ROOT / "instance"


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    raw = env_str(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")


def instance_path() -> Path:
    return Path(env_str("TESSERA_INSTANCE_PATH", str(DEFAULT_INSTANCE_PATH)))


def persistent_secret_key(folder: Path, name: str = "secret_key") -> str:
    """Return the secret key kept under ``folder``, generating it once.

    The key never lives in code: a fresh install gets a random one that survives
    restarts (so sessions stay valid) and is readable by its owner only.
    """
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / name
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return key_file.read_text().strip()


def sqlite_url(folder: Path, name: str = "tessera.db") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / name}"


def load_settings(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the configuration mapping from the environment plus ``overrides``."""
    folder = Path((overrides or {}).get("INSTANCE_PATH") or instance_path())
    settings: dict[str, Any] = {
        "INSTANCE_PATH": str(folder),
        "SECRET_KEY": env_str("SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": env_str("DATABASE_URL"),
        # None means: the embedded Redis server under instance/, started (or
        # joined) by the first connection; create_app then sets REDIS_EMBEDDED.
        "REDIS_URL": env_str("REDIS_URL"),
        "REDIS_EMBEDDED": False,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "MAX_CONTENT_LENGTH": env_int("MAX_CONTENT_LENGTH", 25 * 1024 * 1024),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # Secure cookies whenever the portal is served over HTTPS (behind a proxy
        # that sets X-Forwarded-Proto, see PROXY_FIX) or when forced on.
        "SESSION_COOKIE_SECURE": env_bool("SESSION_COOKIE_SECURE", False),
        "PROXY_FIX": env_bool("PROXY_FIX", False),
        "PERMANENT_SESSION_LIFETIME": env_int("SESSION_LIFETIME_SECONDS", 14 * 86400),
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_HEADERS": ["X-CSRFToken"],
        "RATELIMIT_ENABLED": env_bool("RATELIMIT_ENABLED", True),
        "LOGIN_LIMIT_PER_ACCOUNT": env_str(
            "LOGIN_LIMIT_PER_ACCOUNT", "5 per 15 minutes"
        ),
        "LOGIN_LIMIT_PER_IP": env_str("LOGIN_LIMIT_PER_IP", "20 per 15 minutes"),
        "REGISTER_LIMIT_PER_IP": env_str("REGISTER_LIMIT_PER_IP", "10 per hour"),
        # The live duplicate warning answers "is this person known?": limit it
        # so it cannot be used to check addresses in bulk.
        "DUPLICATE_CHECK_LIMIT": env_str("DUPLICATE_CHECK_LIMIT", "300 per hour"),
        "MAIL_SERVER": env_str("MAIL_SERVER"),
        "MAIL_PORT": env_int("MAIL_PORT", 25),
        "MAIL_USERNAME": env_str("MAIL_USERNAME"),
        "MAIL_PASSWORD": env_str("MAIL_PASSWORD"),
        "MAIL_USE_TLS": env_bool("MAIL_USE_TLS", False),
        "MAIL_USE_SSL": env_bool("MAIL_USE_SSL", False),
        "MAIL_TIMEOUT": env_int("MAIL_TIMEOUT", 10),
        "MAIL_DEFAULT_SENDER": env_str(
            "MAIL_DEFAULT_SENDER", "Tessera <no-reply@tessera.localhost>"
        ),
        "RQ_QUEUES": ["high", "default", "low"],
        "JOB_TIMEOUT_SECONDS": env_int("JOB_TIMEOUT_SECONDS", 3600),
        "JOB_RESULT_TTL_SECONDS": env_int("JOB_RESULT_TTL_SECONDS", 86400),
        "JOB_FAILURE_TTL_SECONDS": env_int("JOB_FAILURE_TTL_SECONDS", 7 * 86400),
        "JOB_RETRY_INTERVALS": [10, 60, 300],
        # Recurring jobs (kind -> cron expression, UTC) run by `portal scheduler`.
        "SCHEDULED_JOBS": {
            "vest_points": env_str("VEST_POINTS_CRON", "7 * * * *"),
            "roll_up_daily_metrics": env_str("DAILY_ROLLUP_CRON", "15 0 * * *"),
        },
        # The admin dashboard (portal/admin/metrics.py).
        "DASHBOARD_DEFAULT_DAYS": env_int("DASHBOARD_DEFAULT_DAYS", 30),
        "DASHBOARD_MAX_DAYS": env_int("DASHBOARD_MAX_DAYS", 366),
        # Longer ranges show the per-day charts by week.
        "DASHBOARD_DAILY_MAX_DAYS": env_int("DASHBOARD_DAILY_MAX_DAYS", 92),
        # "Active members": logged in within this many days.
        "ACTIVE_MEMBER_DAYS": env_int("ACTIVE_MEMBER_DAYS", 30),
        # Each roll-up recomputes this many finished days, so a void that comes
        # later (a contribution upheld as bad) reaches the figures of its day.
        "DAILY_ROLLUP_REFRESH_DAYS": env_int("DAILY_ROLLUP_REFRESH_DAYS", 30),
        # Age buckets (days) of the moderation backlog chart.
        "DASHBOARD_BACKLOG_AGE_DAYS": [1, 3, 7, 14],
        "PAGE_SIZE": env_int("PAGE_SIZE", 25),
        "SIGNUP_GRANT_POINTS": env_int("SIGNUP_GRANT_POINTS", 20),
        # The points economy (SPEC section 3).
        "CONTRIBUTION_POINTS": env_int("CONTRIBUTION_POINTS", 5),
        "UPDATE_POINTS": env_int("UPDATE_POINTS", 5),
        "PAID_UPDATE_INTERVAL_DAYS": env_int("PAID_UPDATE_INTERVAL_DAYS", 30),
        "VESTING_DAYS": env_int("VESTING_DAYS", 14),
        "CHALLENGE_REWARD_POINTS": env_int("CHALLENGE_REWARD_POINTS", 2),
        "BAD_CONTRIBUTION_PENALTY": env_int("BAD_CONTRIBUTION_PENALTY", 5),
        "REFUND_WINDOW_DAYS": env_int("REFUND_WINDOW_DAYS", 30),
        "RATING_WINDOW_DAYS": env_int("RATING_WINDOW_DAYS", 45),
        "ROOKIE_DAILY_CAP": env_int("ROOKIE_DAILY_CAP", 5),
        "PROSPECTOR_DAILY_CAP": env_int("PROSPECTOR_DAILY_CAP", 20),
        "PROSPECTOR_VESTED_CONTRIBUTIONS": env_int(
            "PROSPECTOR_VESTED_CONTRIBUTIONS", 20
        ),
        "CLOSER_DAILY_CAP": env_int("CLOSER_DAILY_CAP", 100),
        "CLOSER_VESTED_CONTRIBUTIONS": env_int("CLOSER_VESTED_CONTRIBUTIONS", 25),
        "CLOSER_MIN_RATING_PERCENT": env_int("CLOSER_MIN_RATING_PERCENT", 80),
        "REVEAL_COST": env_int("REVEAL_COST", 10),
        "ROYALTY_POINTS": env_int("ROYALTY_POINTS", 1),
        "REVEAL_DAILY_LIMIT": env_int("REVEAL_DAILY_LIMIT", 100),
        "CONTRIBUTION_FILE_MAX_ROWS": env_int("CONTRIBUTION_FILE_MAX_ROWS", 5000),
        "CONTRIBUTION_FILE_MAX_BYTES": env_int(
            "CONTRIBUTION_FILE_MAX_BYTES", 5 * 1024 * 1024
        ),
        # Keys the suppression list's HMACs; like SECRET_KEY, generated once
        # into instance/ when not set. Rotating it forgets every suppression.
        "SUPPRESSION_KEY": env_str("SUPPRESSION_KEY"),
    }
    settings.update(overrides or {})
    if not settings["SECRET_KEY"]:
        settings["SECRET_KEY"] = persistent_secret_key(folder)
    if not settings["SUPPRESSION_KEY"]:
        settings["SUPPRESSION_KEY"] = persistent_secret_key(folder, "suppression_key")
    if not settings["SQLALCHEMY_DATABASE_URI"]:
        settings["SQLALCHEMY_DATABASE_URI"] = sqlite_url(folder)
    settings["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(
        settings["SQLALCHEMY_DATABASE_URI"]
    )
    return settings


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written the usual way."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
