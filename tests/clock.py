"""Run the suite on another date: ``TESSERA_TEST_CLOCK_SHIFT_DAYS=365 pytest``.

The suite must pass on any date, so every test that depends on "now" freezes
or injects its clock. This module is the check that they do: with the
variable set, the whole session (collection included) runs with the clock
moved that many days ahead, still ticking. Processes the tests spawn with
``multiprocessing`` call :func:`start_shifted_clock` in their initializer, so
they agree with the parent on the date.

Not shifted (and documented in README): command-line subprocesses started
with ``python -m portal.cli``, and the database and Redis servers' own
clocks. The portal never asks the database server for the time (every
timestamp comes from :func:`portal.models.base.utcnow`), so rows stay
consistent with the app's clock.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import time_machine

SHIFT_VARIABLE = "TESSERA_TEST_CLOCK_SHIFT_DAYS"


def clock_shift_days() -> int:
    """The shift asked for in the environment, in days (0: the real date).

    Raises ``ValueError`` naming the variable when it is not a whole number.
    """
    raw = os.environ.get(SHIFT_VARIABLE, "").strip()
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError:
        raise ValueError(
            f"{SHIFT_VARIABLE} must be a whole number of days, not {raw!r}."
        ) from None


def start_shifted_clock() -> time_machine.travel | None:
    """Move this process's clock ahead by the configured shift, ticking.

    Returns the started traveller (stop it when done), or None when no shift
    is configured.
    """
    days = clock_shift_days()
    if not days:
        return None
    traveller = time_machine.travel(datetime.now(UTC) + timedelta(days=days), tick=True)
    traveller.start()
    return traveller
