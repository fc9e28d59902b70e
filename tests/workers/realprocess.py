"""Helpers for tests that run real worker processes against the test database.

The processes get the test's database and Redis through the environment, as an
operator's would, and are stopped by their process group when the test ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, select

from portal.contacts import imports
from portal.models import ContributionFile, JobRun, Member

# Generous: the CI machine runs several suites on two cores.
DEADLINE_SECONDS = 180

FIRST_NAMES = [
    "Ada",
    "Alan",
    "Alice",
    "Amara",
    "Anton",
    "Beatrix",
    "Boris",
    "Carla",
    "Cecil",
    "Clara",
    "Dario",
    "Delia",
    "Edgar",
    "Elena",
    "Emil",
    "Fatima",
    "Felix",
    "Greta",
    "Hannah",
    "Hugo",
    "Ingrid",
    "Isaac",
    "Jonas",
    "Julia",
    "Karim",
    "Lena",
    "Lionel",
    "Magda",
    "Marco",
    "Mira",
    "Nadia",
    "Nils",
    "Olga",
    "Oscar",
    "Paula",
    "Pavel",
    "Rosa",
    "Rupert",
    "Sofia",
    "Stefan",
    "Talia",
    "Tomas",
    "Ursula",
    "Victor",
    "Vera",
    "Walter",
    "Wanda",
    "Yusuf",
    "Zara",
    "Zoltan",
]
LAST_NAMES = [
    "Abbott",
    "Barker",
    "Castillo",
    "Dalton",
    "Eriksen",
    "Fischer",
    "Garner",
    "Hollis",
    "Iversen",
    "Jansen",
    "Keller",
    "Lindqvist",
    "Moreau",
    "Novak",
    "Okafor",
    "Petrov",
    "Quinlan",
    "Rasmussen",
    "Schuster",
    "Thorne",
    "Ulrich",
    "Varga",
    "Whitaker",
    "Yamada",
    "Zeller",
    "Brennan",
    "Costa",
    "Duval",
    "Ellison",
    "Ferreira",
    "Gallagher",
    "Horvat",
    "Ibarra",
    "Jovanovic",
    "Kowalski",
    "Larsen",
    "Mendoza",
    "Nakamura",
    "Ortega",
    "Pryor",
]
# Forty companies, so that no company gathers enough people to make the
# duplicate check (which compares within a company) the test's bottleneck.
COMPANIES = [
    (f"{place} {trade}", f"{place}-{trade}.com".lower())
    for place in ("Brightwater", "Copperfield", "Harborview", "Juniper", "Larkspur")
    for trade in (
        "Analytics",
        "Logistics",
        "Systems",
        "Foods",
        "Robotics",
        "Textiles",
        "Insurance",
        "Pharma",
    )
]
TITLES = ("VP Sales", "Head of IT", "CFO", "Marketing Manager", "Sales Director")


def member_csv(rows: int) -> bytes:
    """A member's contribution CSV of ``rows`` distinct people (up to 2,000)."""
    lines = ["First Name,Last Name,Job Title,Company,Website,Work Email,City,Country"]
    for n in range(rows):
        first = FIRST_NAMES[n % len(FIRST_NAMES)]
        last = LAST_NAMES[n // len(FIRST_NAMES)]
        company, domain = COMPANIES[n % len(COMPANIES)]
        lines.append(
            f"{first},{last},{TITLES[n % len(TITLES)]},{company},{domain},"
            f"{first.lower()}.{last.lower()}@{domain},London,GB"
        )
    return "\n".join(lines).encode()


def upload_member_file(db, member: Member, rows: int) -> ContributionFile:
    """Upload a generated file of ``rows`` people as ``member``; its job is queued."""
    upload = imports.accept_upload(
        db.session,
        member,
        filename="people.csv",
        content=member_csv(rows),
        attestation="I may share these business contacts.",
        max_bytes=10**7,
    )
    db.session.commit()
    return upload


def process_env(app_config: dict, **settings: str) -> dict[str, str]:
    """The environment a portal process needs to share the test's backends."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"TEST_DATABASE_URL", "TEST_REDIS_URL", "MAIL_SERVER"}
    }
    env.update(
        DATABASE_URL=app_config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=app_config["REDIS_URL"],
        TESSERA_INSTANCE_PATH=app_config["INSTANCE_PATH"],
        SECRET_KEY=app_config["SECRET_KEY"],
        # A file of thousands of rows must not stop at a Rookie's daily cap.
        ROOKIE_DAILY_CAP="100000",
        **settings,
    )
    return env


def portal_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("portal")), *args]


# ``portal worker`` on the test's date: under TESSERA_TEST_CLOCK_SHIFT_DAYS the
# worker's clock moves as the test's does (its horses are forked, and inherit
# it), so what the worker dates (a quote's validity, a heartbeat) agrees with
# what the test and its live server read. Without a shift it is plain
# ``portal worker``.
WORKER_ON_TEST_DATE = (
    "from tests.clock import start_shifted_clock\n"
    "start_shifted_clock()\n"
    "from portal.cli import main\n"
    "main()\n"
)


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    """``portal worker`` in a process group of its own (so its horse dies with
    it), on the test's date."""
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-c", WORKER_ON_TEST_DATE, "worker"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=Path(__file__).resolve().parents[2],
        )


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop the process group this test started, and reap the process."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def wait_for(
    check: Callable[[], object], what: str, timeout: float = DEADLINE_SECONDS
) -> object:
    """Poll ``check`` until it returns something true, or fail saying ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Observer:
    """Reads runs and files on a connection of its own, as an admin page would."""

    def __init__(self, database_url: str):
        self.engine = create_engine(database_url)

    def run(self, run_id: int):
        with self.engine.connect() as connection:
            return connection.execute(
                select(JobRun.__table__).where(JobRun.id == run_id)
            ).one()

    def file(self, file_id: int):
        with self.engine.connect() as connection:
            return connection.execute(
                select(ContributionFile.__table__).where(ContributionFile.id == file_id)
            ).one()

    def close(self) -> None:
        self.engine.dispose()


def work_horse_pids(worker_pid: int) -> list[int]:
    """A worker's work horses: RQ forks each into a process group of its own
    (the worker's scheduler process stays in the worker's group)."""
    horses = []
    for child in _child_pids(worker_pid):
        try:
            if os.getpgid(child) == child:
                horses.append(child)
        except ProcessLookupError:
            continue
    return horses


def _child_pids(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The name (field 2) may hold spaces; the parent pid follows it.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry.name))
    return children
