"""``portal contacts import``: the operator's trusted bulk load."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.cli import contacts_group
from portal.contactfields import CONTACT_FIELDS
from portal.contacts import operator_import
from portal.models import (
    AuditEntry,
    Company,
    CompanyDomain,
    Contact,
    ContactState,
    Flag,
    FlagKind,
    FlagState,
    LedgerEntry,
    Revision,
    RevisionKind,
    RevisionSource,
)
from portal.suppression import SUPPRESSED_MESSAGE, suppress
from tests.factories import PRIYA


def person(**overrides: str) -> dict[str, str]:
    return {**PRIYA, **overrides}


# One file exercising every outcome; its rows are numbered from 2, as a
# spreadsheet shows them under the heading row.
MIXED_ROWS = [
    person(),
    person(
        first_name="tom",
        last_name="o'neill",
        title="Head of Marketing",
        company="brightwater analytics",
        company_domain="",
        email="Tom.ONeill@brightwater-analytics.com",
        phone="",
        city="",
        country="",
    ),
    person(first_name="Lena", email="lena.fischer@gmail.com"),
    person(
        first_name="Omar",
        email="omar.haddad@brightwater-analytics.com",
        phone="+44 7911 123456",
    ),
    person(first_name="asdf", email="asdf@brightwater-analytics.com"),
    person(
        first_name="Tom",
        last_name="O'Neill",
        email="tom.oneill@BRIGHTWATER-ANALYTICS.COM",
    ),
    person(
        first_name="Ines",
        last_name="Costa",
        email="ines.costa@northwind.com",
        company="Northwind Traders",
        company_domain="https://www.northwind.com/",
    ),
    person(
        first_name="Raj",
        last_name="Patel",
        email="raj.patel@northwind.com",
        company="Northwind",
        company_domain="",
    ),
    person(first_name="Mia", last_name="Berg", email="mia.berg@brightwater.io"),
    person(
        first_name="Known",
        last_name="Person",
        email="known.person@brightwater-analytics.com",
    ),
    person(
        first_name="Hidden",
        last_name="Person",
        email="hidden.person@brightwater-analytics.com",
    ),
]
MIXED_OUTCOMES = {
    2: None,
    3: None,
    4: ("refused", "gmail.com is a personal email provider"),
    5: ("refused", "mobile number"),
    6: ("refused", "does not look like a real first name"),
    7: ("duplicate", operator_import.REPEATED_EMAIL_REASON),
    8: None,
    9: None,
    10: ("held", operator_import.HELD_REASON),
    11: ("duplicate", operator_import.KNOWN_EMAIL_REASON),
    12: ("refused", SUPPRESSED_MESSAGE),
}


def write_file(folder: Path, rows: list[dict[str, str]], name="contacts.csv") -> Path:
    path = folder / name
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=CONTACT_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_report(path: Path) -> dict[int, dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as source:
        return {int(line["row"]): line for line in csv.DictReader(source)}


@pytest.fixture
def run_import(app, db):
    def run(path: Path, *options: str):
        result = app.test_cli_runner().invoke(
            contacts_group, ["import", str(path), *options]
        )
        # The command wrote on connections of its own: read afresh.
        db.session.rollback()
        return result

    return run


@pytest.fixture
def mixed_file(app, db, tmp_path, make_contact, make_company) -> Path:
    """The mixed file, with one of its people already known and one suppressed."""
    make_contact(
        make_company("Brightwater Analytics", domain="brightwater-analytics.com"),
        first_name="Known",
        last_name="Person",
        email="known.person@brightwater-analytics.com",
    )
    suppress(
        db.session,
        app.config["SUPPRESSION_KEY"],
        reason="erasure",
        person=("Hidden", "Person", "brightwater-analytics.com"),
    )
    db.session.commit()
    return write_file(tmp_path, MIXED_ROWS)


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def contact(db, email: str) -> Contact | None:
    return db.session.scalar(select(Contact).where(Contact.email == email))


@pytest.mark.parametrize("batch_size", ["1", "3", "20000"])
def test_every_row_gets_its_outcome(db, run_import, mixed_file, tmp_path, batch_size):
    """Whatever the batch size, each row is loaded, held, refused or skipped, and
    the report lists every row not loaded as active, with its reason."""
    report = tmp_path / "report.csv"
    result = run_import(mixed_file, "--report", str(report), "--batch-size", batch_size)
    assert result.exit_code == 0, result.output
    lines = read_report(report)
    expected = {row: o for row, o in MIXED_OUTCOMES.items() if o is not None}
    assert sorted(lines) == sorted(expected)
    for row, (outcome, reason) in expected.items():
        assert lines[row]["outcome"] == outcome, row
        assert reason in lines[row]["reason"], row
        assert lines[row]["email"] == MIXED_ROWS[row - 2]["email"]
    assert "4 loaded, 1 loaded but held for a moderator, 2 duplicate, 4 refused" in (
        result.output
    )
    # The one known beforehand, four loaded active, one held.
    assert count(db, Contact) == 6
    tom = contact(db, "tom.oneill@brightwater-analytics.com")
    assert lines[7]["contact_id"] == str(tom.id)
    assert lines[10]["contact_id"] == str(contact(db, "mia.berg@brightwater.io").id)
    assert contact(db, "lena.fischer@gmail.com") is None
    assert contact(db, "hidden.person@brightwater-analytics.com") is None


def test_loaded_contacts_are_pool_owned_with_an_operator_revision(
    db, run_import, mixed_file
):
    """A loaded contact is active, owned by nobody, confirmed now, with one
    revision from the operator import holding the values set; no points move."""
    started = datetime.now(UTC).replace(microsecond=0)
    assert run_import(mixed_file).exit_code == 0
    priya = contact(db, "priya.raman@brightwater-analytics.com")
    assert priya.state == ContactState.ACTIVE
    assert priya.owner_id is None
    assert priya.last_confirmed_at >= started
    assert (priya.seniority, priya.department) == ("vp", "sales")
    revisions = db.session.scalars(
        select(Revision).where(Revision.contact_id == priya.id)
    ).all()
    assert len(revisions) == 1
    revision = revisions[0]
    assert revision.source == RevisionSource.OPERATOR_IMPORT
    assert revision.kind == RevisionKind.CONTRIBUTION
    assert revision.member_id is None
    assert revision.fields == {
        "first_name": "Priya",
        "last_name": "Raman",
        "title": "VP Sales EMEA",
        "company": "Brightwater Analytics",
        "email": "priya.raman@brightwater-analytics.com",
        "phone": "+442079460958",
        "city": "London",
        "country": "GB",
    }
    tom = contact(db, "tom.oneill@brightwater-analytics.com")
    assert (tom.first_name, tom.last_name) == ("Tom", "O'Neill")
    tom_fields = db.session.scalar(
        select(Revision.fields).where(Revision.contact_id == tom.id)
    )
    assert set(tom_fields) == {"first_name", "last_name", "title", "company", "email"}
    assert count(db, Revision) == 5
    assert count(db, LedgerEntry) == 0


def test_domain_mismatch_is_loaded_held_with_a_flag(db, run_import, mixed_file):
    """An email at another domain than the company's loads held, flagged for a
    moderator, as the form does."""
    assert run_import(mixed_file).exit_code == 0
    mia = contact(db, "mia.berg@brightwater.io")
    assert mia.state == ContactState.HELD
    assert mia.company.domain == "brightwater-analytics.com"
    flag = db.session.scalar(select(Flag).where(Flag.contact_id == mia.id))
    assert (flag.kind, flag.state) == (FlagKind.DOMAIN_MISMATCH, FlagState.OPEN)
    assert "brightwater.io" in flag.details
    assert flag.revision_id == db.session.scalar(
        select(Revision.id).where(Revision.contact_id == mia.id)
    )
    assert count(db, Flag) == 1


def test_unknown_companies_are_created_once(db, run_import, mixed_file):
    """Rows at an unknown domain create one company, named from its first row;
    known domains are reused."""
    assert run_import(mixed_file).exit_code == 0
    companies = db.session.scalars(select(Company).order_by(Company.id)).all()
    assert [c.domain for c in companies] == [
        "brightwater-analytics.com",
        "northwind.com",
    ]
    northwind = companies[1]
    assert (northwind.name, northwind.normalised_name) == (
        "Northwind Traders",
        "northwind traders",
    )
    ines = contact(db, "ines.costa@northwind.com")
    raj = contact(db, "raj.patel@northwind.com")
    assert ines.company_id == raj.company_id == northwind.id


def test_company_found_by_alias_domain(db, run_import, tmp_path, make_company):
    """An email at a company's alias domain joins that company, not held."""
    company = make_company("Acme", domain="acme.com")
    db.session.add(CompanyDomain(company_id=company.id, domain="acme.co.uk"))
    db.session.commit()
    path = write_file(
        tmp_path,
        [
            person(email="priya@acme.co.uk", company="Acme", company_domain=""),
            person(email="tom@acme.co.uk", company="", company_domain="acme.com"),
        ],
    )
    assert run_import(path).exit_code == 0
    contacts = db.session.scalars(select(Contact)).all()
    assert {c.company_id for c in contacts} == {company.id}
    assert {c.state for c in contacts} == {ContactState.ACTIVE}
    assert count(db, Company) == 1


def test_running_the_file_again_loads_nothing_new(db, run_import, mixed_file, tmp_path):
    """A second run (say after a crash) skips everything already loaded."""
    assert run_import(mixed_file, "--batch-size", "2").exit_code == 0
    before = (count(db, Contact), count(db, Revision), count(db, Company))
    report = tmp_path / "again.csv"
    again = run_import(mixed_file, "--report", str(report))
    assert again.exit_code == 0, again.output
    assert "Read 11 rows: 0 loaded, 0 loaded but held" in again.output
    assert (count(db, Contact), count(db, Revision), count(db, Company)) == before
    lines = read_report(report)
    assert lines[2]["reason"] == operator_import.KNOWN_EMAIL_REASON
    assert lines[2]["contact_id"] == str(
        contact(db, "priya.raman@brightwater-analytics.com").id
    )


def test_import_is_audited(db, run_import, mixed_file):
    """The audit log records who loaded what: the file and its counts."""
    assert run_import(mixed_file).exit_code == 0
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "contacts.imported_by_operator")
    )
    assert entry.actor_label == "system"
    assert entry.details["file"] == "contacts.csv"
    assert (entry.details["loaded"], entry.details["refused"]) == (4, 4)


def test_report_escapes_formula_cells(run_import, tmp_path):
    """Cells a spreadsheet would run come back in the report as plain text."""
    path = write_file(
        tmp_path,
        [
            person(company='=HYPERLINK("http://evil.example","Click")'),
            person(email="x@gmail.com", title="@SUM(A1:A9)", city="-2+3"),
        ],
    )
    report = tmp_path / "report.csv"
    assert run_import(path, "--report", str(report)).exit_code == 0
    lines = read_report(report)
    assert lines[2]["outcome"] == "refused"
    assert "looks like a spreadsheet formula" in lines[2]["reason"]
    assert lines[2]["company"] == '\'=HYPERLINK("http://evil.example","Click")'
    assert lines[3]["title"] == "'@SUM(A1:A9)"
    assert lines[3]["city"] == "'-2+3"


BAD_FILES = {
    "missing": (None, "No such file or directory"),
    "empty": (b"", "The file is empty"),
    "binary": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "This is a PDF"),
    "no_email_heading": (
        b"first_name,last_name,title,company\nPriya,Raman,VP Sales,Acme\n",
        "missing: email",
    ),
    "broken_quote_at_the_end": (
        (
            b"first_name,last_name,title,company,email\n"
            b"Priya,Raman,VP Sales,Acme,priya@acme.com\n"
            b'Tom,"Jones,CTO,Acme,tom@acme.com\n'
        ),
        "is never closed",
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_file_is_refused_and_nothing_is_written(db, run_import, tmp_path, kind):
    """A file that cannot be read is one clear error, exit code 1, and leaves the
    database and the report path untouched."""
    content, message = BAD_FILES[kind]
    path = tmp_path / "contacts.csv"
    if content is not None:
        path.write_bytes(content)
    report = tmp_path / "report.csv"
    result = run_import(path, "--report", str(report))
    assert result.exit_code == 1
    assert message in result.output
    assert result.output.startswith("Error: ")
    assert len(result.output.strip().splitlines()) == 1
    assert not report.exists()
    assert count(db, Contact) == 0
    assert count(db, Company) == 0
    assert count(db, AuditEntry) == 0


def test_checks_in_worker_processes_give_the_same_outcomes(
    app, db, mixed_file, tmp_path
):
    """Running the row checks in a process pool changes nothing but speed."""
    parsed = operator_import.open_import_file(mixed_file)
    summary = operator_import.ImportSummary(total_rows=parsed.row_count)
    report = list(
        operator_import.import_contacts(
            parsed,
            db.engine,
            suppression_key=app.config["SUPPRESSION_KEY"],
            now=datetime.now(UTC),
            summary=summary,
            batch_size=4,
            workers=2,
        )
    )
    db.session.rollback()
    expected = {row: o for row, o in MIXED_OUTCOMES.items() if o is not None}
    assert {line.row: line.outcome.value for line in report} == {
        row: outcome for row, (outcome, _) in expected.items()
    }
    assert (summary.loaded, summary.held, summary.duplicate, summary.refused) == (
        4,
        1,
        2,
        4,
    )
    assert count(db, Contact) == 6
