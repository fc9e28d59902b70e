"""``portal match``: a list file matched against the pool from the command line."""

from __future__ import annotations

import csv

import pytest
from sqlalchemy import select

from portal.cli import match_command
from portal.models import AuditEntry

HUBSPOT = (
    "Record ID,First Name,Last Name,Company Name,Email,Job Title,Notes\n"
    '101,Bob,Whitfield,Acme Robotics Ltd,,Sales Lead,=HYPERLINK("http://x")\n'
    "102,Anna,Kovacs,Acme Robotics,,,\n"
    "103,,,Acme Robotics,,,\n"
    "104,Robert,Whitfield,Globex,robert.whitfield@acme.com,,\n"
)


@pytest.fixture
def pool(make_company, make_contact):
    acme = make_company("Acme Robotics Ltd", domain="acme.com")
    make_company("Globex GmbH", domain="globex.de")
    return make_contact(
        acme,
        first_name="Robert",
        last_name="Whitfield",
        email="robert.whitfield@acme.com",
        phone="+442079460958",
        title="Head of Sales",
        city="London",
        country="GB",
    )


def run(app, tmp_path, text, *args):
    source = tmp_path / "list.csv"
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "out.csv"
    result = app.test_cli_runner().invoke(
        match_command, [str(source), "--out", str(out), *args]
    )
    return result, out


def read_rows(path):
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def test_match_writes_their_columns_with_ours_filled_in(app, db, pool, tmp_path):
    """Their columns stay in order, our values fill matched rows, fields they
    lack get a column, tessera_* columns say what happened, formulas are
    escaped, an audit entry is written and the summary gives rows/s."""
    report = tmp_path / "report.csv"
    result, out = run(app, tmp_path, HUBSPOT, "--report", str(report))
    assert result.exit_code == 0, result.output
    rows = read_rows(out)
    assert rows[0] == [
        "Record ID", "First Name", "Last Name", "Company Name", "Email",
        "Job Title", "Notes", "phone", "city", "country",
        "tessera_status", "tessera_confidence", "tessera_changes",
    ]  # fmt: skip
    bob = rows[1]
    assert bob[:7] == [
        "101", "Bob", "Whitfield", "Acme Robotics Ltd", "robert.whitfield@acme.com",
        "Head of Sales", "'=HYPERLINK(\"http://x\")",
    ]  # fmt: skip
    assert bob[7:11] == ["+442079460958", "London", "GB", "matched"]
    assert "title: Sales Lead -> Head of Sales" in bob[12]
    assert rows[2][10:] == [
        "not_found",
        "0",
        "nobody by that name at Acme Robotics Ltd",
    ]
    assert rows[3][10:] == ["invalid", "0", "no name"]
    assert rows[4][10] == "moved"
    assert "company: Globex -> Acme Robotics Ltd" in rows[4][12]
    assert "Matched 4 rows" in result.output and "rows/s" in result.output
    assert "1 matched" in result.output and "1 moved" in result.output
    audit = db.session.scalar(select(AuditEntry))
    assert audit.action == "lists.matched_by_operator"
    assert audit.details["rows"] == 4
    lines = read_rows(report)
    assert lines[1][:3] + lines[1][4:5] == ["2", "101", "matched", str(pool.id)]
    assert lines[1][6:] == ["added", "added", "different", "added", "added"]


def test_map_option_maps_an_unrecognised_column(app, db, pool, tmp_path):
    """--map "Employer=company" makes an unknown heading the company."""
    text = "Given,Family,Employer\nRobert,Whitfield,Acme Robotics\n"
    result, out = run(
        app, tmp_path, text, "--map", "Given=first_name", "--map",
        "Family=last_name", "--map", "Employer=company",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert read_rows(out)[1][-3] == "matched"


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        ("Company\nAcme\n", (), "No column holds the people's names"),
        ("Name\nJo\n", ("--map", "Name"), "is not HEADER=field"),
        (b"\x89PNG\r\n\x1a\n", (), "This is an image"),
    ],
)
def test_bad_input_is_a_clear_error(app, db, tmp_path, text, args, message):
    """A file or mapping that cannot be used stops with a message, no output."""
    source = tmp_path / "list.csv"
    if isinstance(text, bytes):
        source.write_bytes(text)
    else:
        source.write_text(text)
    out = tmp_path / "out.csv"
    result = app.test_cli_runner().invoke(
        match_command, [str(source), "--out", str(out), *args]
    )
    assert result.exit_code != 0
    assert message in result.output
    assert not out.exists()
