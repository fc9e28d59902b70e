"""Whether a process still runs, told apart from a later one with its pid."""

from __future__ import annotations

import os
from pathlib import Path


def process_start(pid: int) -> str | None:
    """The process's start time (clock ticks since boot), which with its pid
    names it uniquely; None if it is gone or a zombie. Without /proc (not
    Linux), "?" for any live process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "?"
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after it do not.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in {"Z", "X"}:
        return None
    return fields[19]


def is_running(pid: int) -> bool:
    """True if process ``pid`` exists and is not a zombie."""
    return pid > 0 and process_start(pid) is not None
