"""CSV uploads are read safely and CSV downloads are written safely."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import random
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.contactfields import (
    CONTACT_FIELDS,
    CONTACT_HEADER_ALIASES,
    missing_contact_headings,
)
from portal.csvfiles import (
    CsvRejected,
    ParsedCsv,
    decode_csv_bytes,
    formula_escape,
    iter_csv,
    looks_like_formula,
    map_header,
    normalise_heading,
    read_csv,
    stream_csv,
    write_csv,
)

HEADER = "first_name,last_name,title,company,email,phone"
ADA = "Ada,Lovelace,CTO,Acme,ada@acme.com,+44 20 7946 0958"
BOB = "Bob,Babbage,Head of Sales,Acme,bob@acme.com,"
CONTACTS = {
    "fields": CONTACT_FIELDS,
    "aliases": CONTACT_HEADER_ALIASES,
    "required": missing_contact_headings,
    "max_rows": 5_000,
}


def read(data: bytes | str, **overrides) -> ParsedCsv:
    return read_csv(data, **{**CONTACTS, **overrides})


def lines(*rows: str) -> str:
    return "".join(row + "\r\n" for row in rows)


def rejection(data: bytes | str, **overrides) -> str:
    with pytest.raises(CsvRejected) as caught:
        read(data, **overrides)
    return caught.value.message


# --- Encodings ----------------------------------------------------------------


def test_utf8_with_bom_is_read_and_bom_does_not_spoil_first_heading():
    """A UTF-8 file with a BOM (Excel's "CSV UTF-8") maps its first column."""
    data = (
        codecs.BOM_UTF8
        + lines(
            "First Name,Last Name,Title,Company,Email", "Zoë,Ü,CEO,Acme,z@acme.com"
        ).encode()
    )
    parsed = read(data)
    assert parsed.encoding == "utf-8-sig"
    assert parsed.header.columns[0] == "first_name"
    assert [row.values["first_name"] for row in parsed] == ["Zoë"]


@pytest.mark.parametrize(
    ("bom", "codec"),
    [(codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")],
)
def test_utf16_with_bom_is_read(bom, codec):
    """UTF-16 files with a BOM, in either byte order, decode correctly."""
    data = bom + lines(HEADER, "Zoë,Łukasz,CTO,Acme,z@acme.com,").encode(codec)
    parsed = read(data)
    assert parsed.encoding == "utf-16"
    row = next(iter(parsed))
    assert (row.values["first_name"], row.values["last_name"]) == ("Zoë", "Łukasz")


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_recognised_by_its_nul_bytes(codec):
    """UTF-16 without a BOM is told from binary data by its NUL pattern."""
    parsed = read(lines(HEADER, ADA).encode(codec))
    assert parsed.encoding == codec
    assert next(iter(parsed)).values["email"] == "ada@acme.com"


def test_utf32_with_bom_is_read():
    """UTF-32 with a BOM is read."""
    parsed = read(lines(HEADER, ADA).encode("utf-32"))
    assert parsed.encoding == "utf-32"
    assert next(iter(parsed)).values["phone"] == "+44 20 7946 0958"


def test_cp1252_is_the_fallback_for_non_utf8():
    """Excel's Windows encoding keeps é and € intact."""
    data = lines(HEADER, "René,Dupré,Head of € Sales,Société,r@soc.fr,").encode(
        "cp1252"
    )
    parsed = read(data)
    assert parsed.encoding == "cp1252"
    row = next(iter(parsed))
    assert row.values["first_name"] == "René"
    assert row.values["title"] == "Head of € Sales"


def test_latin1_is_the_last_resort():
    """Bytes that are neither UTF-8 nor cp1252 still decode, as latin-1."""
    data = lines(HEADER, "Jürgen,Müller,CTO,Acme\x81,j@acme.de,").encode("latin-1")
    parsed = read(data)
    assert parsed.encoding == "latin-1"
    assert next(iter(parsed)).values["company"] == "Acme\x81"
    assert decode_csv_bytes(b"caf\xe9 \x81") == "caf\xe9 \x81"


# --- Delimiters, headings -----------------------------------------------------


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiters_are_sniffed(delimiter):
    """Semicolon, tab and pipe files are split on their own delimiter."""
    text = lines(
        delimiter.join(HEADER.split(",")),
        delimiter.join(["Ada", "Lovelace", "CTO", "Acme, Inc.", "ada@acme.com", "1,5"]),
    )
    parsed = read(text)
    assert parsed.delimiter == delimiter
    row = next(iter(parsed))
    assert row.values["company"] == "Acme, Inc."
    assert row.values["phone"] == "1,5"


def test_single_column_file_falls_back_to_comma():
    """With nothing to sniff, the delimiter is a comma."""
    parsed = read(
        lines("email", "a@acme.com", "b@acme.com"),
        fields=("email",),
        aliases={},
        required={"email"},
    )
    assert parsed.delimiter == ","
    assert [row.values for row in parsed] == [
        {"email": "a@acme.com"},
        {"email": "b@acme.com"},
    ]


@pytest.mark.parametrize(
    "header",
    [
        # Salesforce report
        "First Name,Last Name,Title,Account Name,Email,Phone,Mailing City,"
        "Mailing Country",
        # HubSpot export
        "First Name,Last Name,Job Title,Company Name,Email,Phone Number,City,"
        "Country/Region",
        # ZoomInfo export
        "Last Name,First Name,Job Title,Direct Phone Number,Email Address,"
        "Person City,Country,Company Name",
        # Salesforce Data Loader API names
        "FirstName,LastName,Title,Account.Name,Email,Phone,MailingCity,MailingCountry",
        # Hand-made spreadsheets
        'Given name,SURNAME,"Position",Organisation,E-mail,Direct Dial,Town,'
        "Country Code",
        "forename,family_name,job-title,employer,work email,office phone,city,country",
    ],
)
def test_header_aliases_from_common_exports_map_to_contact_fields(header):
    """Headings from CRMs and spreadsheets map onto the contact fields."""
    parsed = read(lines(header, ",".join(["x"] * 8)))
    assert set(parsed.header.columns.values()) == {
        "first_name",
        "last_name",
        "title",
        "company",
        "email",
        "phone",
        "city",
        "country",
    }
    assert parsed.header.unmapped == []


@pytest.mark.parametrize(
    ("heading", "field"),
    [
        ("Website", "company_domain"),
        ("Company Website", "company_domain"),
        ("Domain", "company_domain"),
        ("Business Email", "email"),
        ("Work Phone", "phone"),
        ("Organization", "company"),
        ("\ufeff  First  Name ", "first_name"),
    ],
)
def test_single_aliases(heading, field):
    """More spellings, including a stray BOM and spaces, are understood."""
    header = map_header(
        [heading], fields=CONTACT_FIELDS, aliases=CONTACT_HEADER_ALIASES
    )
    assert header.columns == {0: field}


def test_alias_keys_are_normalised():
    """The alias table is keyed by normalised heading text."""
    assert normalise_heading('"E-Mail_Address"') == "emailaddress"
    assert all(normalise_heading(key) == key for key in CONTACT_HEADER_ALIASES)
    assert set(CONTACT_HEADER_ALIASES.values()) == set(CONTACT_FIELDS)


def test_mobile_and_personal_columns_are_not_mapped():
    """Mobile and personal columns are left unmapped (business data only)."""
    header = map_header(
        ["Mobile Phone", "Home Phone", "Personal Email", "Email"],
        fields=CONTACT_FIELDS,
        aliases=CONTACT_HEADER_ALIASES,
    )
    assert header.columns == {3: "email"}


def test_missing_required_headings_are_named():
    """A file without title and email columns is refused, naming them."""
    message = rejection(lines("First Name,Last Name,Company", "Ada,Lovelace,Acme"))
    assert message.startswith("These columns are missing: title, email.")


def test_company_or_domain_is_enough_and_missing_both_is_named():
    """company_domain stands in for company; with neither, both are named."""
    assert read(lines("first_name,last_name,title,company_domain,email", ADA))
    message = rejection(lines("first_name,last_name,title,email", "A,B,C,a@b.com"))
    assert message.startswith("This column is missing: company (or company_domain).")


def test_required_as_a_set():
    """A set of required fields is checked too."""
    message = rejection(
        lines("record_id,company", "1,Acme"),
        fields=("record_id", "company", "email"),
        aliases={"id": "record_id"},
        required={"company", "email"},
    )
    assert message.startswith("This column is missing: email.")


def test_unrecognised_headings_are_reported():
    """Headings that mean nothing are listed, the rest still map."""
    parsed = read(lines(HEADER + ",Notes,Lead Source,,Mobile", ADA + ",n,web,,07700"))
    assert parsed.header.unmapped == ["Notes", "Lead Source", "Mobile"]
    assert len(parsed.header.columns) == 6


def test_duplicate_mapped_columns_are_refused():
    """Two columns meaning the same field refuse the file, naming both."""
    message = rejection(
        lines(
            "First Name,Last Name,Title,Company,Email,Work Email",
            "A,B,C,D,a@d.com,b@d.com",
        )
    )
    assert message.startswith("Two columns both mean email: 'Email' and 'Work Email'.")
    header = map_header(
        ["Email", "Work Email"], fields=CONTACT_FIELDS, aliases=CONTACT_HEADER_ALIASES
    )
    assert header.duplicates == ["Work Email"]


def test_no_recognised_headings_lists_the_headings_to_use():
    """A heading row that means nothing says which headings to use."""
    message = rejection(lines("foo,bar", "1,2"))
    assert message == (
        "None of the column headings were recognised. Use these headings: "
        "first_name, last_name, title, company, company_domain, email, phone, "
        "city, country."
    )


def test_data_in_the_first_row_is_called_out():
    """A file without a heading row is told so."""
    message = rejection(lines("Ada,Lovelace,CTO,Acme,ada@acme.com", BOB))
    assert message.startswith("The first row looks like data, not headings.")


# --- Empty and non-CSV files --------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"  \r\n\t\n", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, "", "\ufeff \n"],
)
def test_empty_files_are_refused(data):
    """Empty and whitespace-only files are refused as empty."""
    assert rejection(data).startswith("The file is empty")


def test_headings_only_is_refused():
    """Headings followed only by blank lines have no rows."""
    assert rejection(lines(HEADER, "", ",,,,,")).startswith(
        "The file has headings but no rows"
    )


def _zip_bytes(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "<x/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "start"),
    [
        (
            _zip_bytes("[Content_Types].xml", "xl/workbook.xml"),
            "This is an Excel workbook; save it as CSV (File > Save As > CSV UTF-8) "
            "and upload that",
        ),
        (_zip_bytes("contacts.csv"), "This is a zip archive"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "This is an old Excel"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "This is a PDF"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(40), "This is an image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "This is an image"),
        (b"GIF89a\x01\x00\x01\x00", "This is an image"),
        (gzip.compress(lines(HEADER, ADA).encode()), "This is a compressed (gzip)"),
        (random.Random(7).randbytes(4096), "This does not look like a CSV file"),
        (
            bytes(b for b in random.Random(8).randbytes(4096) if b),
            "This does not look like a CSV file",
        ),
        (lines(HEADER, ADA).encode() + b"\x00", "This does not look like a CSV file"),
    ],
    ids=[
        "xlsx",
        "zip",
        "xls",
        "pdf",
        "png",
        "jpeg",
        "gif",
        "gzip",
        "random",
        "random-no-nul",
        "nul-byte",
    ],
)
def test_binary_files_are_refused_with_what_to_do(data, start):
    """Workbooks, archives, PDFs, images and binary noise are refused."""
    assert rejection(data).startswith(start)
    with pytest.raises(CsvRejected):
        decode_csv_bytes(data)


# --- Rows ---------------------------------------------------------------------


def test_over_long_cell_is_a_row_problem_and_other_rows_parse():
    """A 131,073-character cell is reported on its row; no exception, no spill."""
    limit_before = csv.field_size_limit()
    text = lines(HEADER, ADA, f"Eve,Long,{'x' * 131_073},Acme,eve@acme.com,", BOB)
    rows = list(read(text))
    assert [row.number for row in rows] == [2, 3, 4]
    assert rows[1].problem == (
        "The title cell is 131,073 characters long; the most a cell may hold is "
        "131,072."
    )
    assert rows[0].problem is None
    assert rows[2].problem is None
    assert rows[2].values["first_name"] == "Bob"
    assert csv.field_size_limit() == limit_before


def test_over_long_unmapped_cell_is_not_a_problem():
    """Only cells that are kept are checked."""
    rows = list(read(lines(HEADER + ",notes", ADA + "," + "n" * 200_000)))
    assert rows[0].problem is None


def test_cell_limit_is_a_parameter():
    """max_cell_chars sets the limit named in the problem."""
    rows = list(read(lines(HEADER, ADA), max_cell_chars=5))
    assert rows[0].problem == (
        "The last name cell is 8 characters long; the most a cell may hold is 5."
    )


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ('=HYPERLINK("http://x")', "'='"),
        ("@SUM(A1:A2)", "'@'"),
        ("+cmd|' /C calc'!A0", "'+'"),
        ("-2+3", "'-'"),
    ],
)
def test_formula_cells_are_row_problems(cell, shown):
    """Cells a spreadsheet would evaluate are reported on their row."""
    quoted = '"' + cell.replace('"', '""') + '"'
    rows = list(read(lines(HEADER, f"{quoted},Lovelace,CTO,Acme,a@acme.com,")))
    assert rows[0].problem == (
        f"The first name cell starts with {shown} and looks like a spreadsheet "
        "formula; remove it and upload again."
    )


@pytest.mark.parametrize(
    "phone", ["+44 20 7946 0958", "-", "+1 (555) 123-4567", "-12.5"]
)
def test_phone_numbers_and_dashes_are_not_formulas(phone):
    """International numbers and a lone dash are data, not formulas."""
    rows = list(read(lines(HEADER, f"Ada,Lovelace,CTO,Acme,a@acme.com,{phone}")))
    assert rows[0].problem is None
    assert rows[0].values["phone"] == phone


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", True),
        ("@x", True),
        ("\t=1", True),
        ("\rx", True),
        ("+cmd|' /C calc'!A0", True),
        ("-2+3", True),
        ("- Sales", True),
        ("+44 20 7946 0958", False),
        ("-", False),
        ("+", False),
        ("", False),
        ("a=b", False),
    ],
)
def test_looks_like_formula(value, expected):
    """The formula rule, case by case."""
    assert looks_like_formula(value) is expected


def test_too_many_rows_is_refused_with_the_count():
    """A file over max_rows is refused, with both numbers."""
    text = lines(HEADER, *[ADA] * 5_214)
    assert rejection(text) == (
        "This file has 5,214 rows; the most one file may hold is 5,000. Split it "
        "and upload the parts."
    )
    assert read(text, max_rows=None).row_count == 5_214


def test_unterminated_quote_is_refused_with_the_row():
    """A quote that is never closed refuses the file at its row."""
    message = rejection(lines(HEADER, ADA, 'Bob,"Babbage,CTO,Acme,b@acme.com,', BOB))
    assert message.startswith('Row 3 has a quote mark (") that is never closed')


def test_text_after_closing_quote_is_refused_with_the_row():
    """Text straight after a closing quote refuses the file at its row."""
    message = rejection(lines(HEADER, ADA, BOB, '"Cy"x,Z,CTO,Acme,c@acme.com,'))
    assert message.startswith("Row 4 has text straight after a closing quote mark")


def test_blank_lines_are_skipped_and_numbers_are_spreadsheet_rows():
    """Row numbers count blank rows and multi-line cells as a spreadsheet does."""
    text = lines(
        "",
        HEADER,
        ADA,
        "",
        'Bob,Babbage,"Head of\r\nSales",Acme,bob@acme.com,',
        ",,,,,",
        "  ,  ",
        "Cy,Young,CFO,Acme,cy@acme.com,",
    )
    parsed = read(text)
    rows = list(parsed)
    assert parsed.row_count == 3
    assert [row.number for row in rows] == [3, 5, 8]
    assert rows[1].values["title"] == "Head of\r\nSales"


def test_carriage_return_line_endings():
    """Old Mac line endings ("\\r" alone) separate rows."""
    rows = list(read("\r".join([HEADER, ADA, BOB]) + "\r"))
    assert [(row.number, row.values["first_name"]) for row in rows] == [
        (2, "Ada"),
        (3, "Bob"),
    ]


def test_short_rows_are_padded_and_long_rows_truncated():
    """Missing cells read as "", extra cells are ignored, neither is a problem."""
    rows = list(read(lines(HEADER, "Ada,Lovelace", ADA + ",extra,cells")))
    assert rows[0].values == {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "title": "",
        "company": "",
        "email": "",
        "phone": "",
    }
    assert rows[1].values["phone"] == "+44 20 7946 0958"
    assert [row.problem for row in rows] == [None, None]


def test_cells_are_stripped_and_values_hold_only_mapped_fields():
    """Values are stripped and keyed by field; unmapped columns are dropped."""
    text = lines("Email , Notes, First Name", " a@b.com ,x,  Ada ")
    rows = list(read(text, required=set()))
    assert rows[0].values == {"email": "a@b.com", "first_name": "Ada"}


def test_nul_in_decoded_text_is_a_row_problem():
    """A NUL inside text already decoded is reported on its row."""
    rows = list(read(lines(HEADER, ADA, "Bo\x00b,Babbage,CTO,Acme,b@acme.com,")))
    assert rows[0].problem is None
    assert rows[1].problem is not None
    assert rows[1].problem.startswith("The first name cell holds a hidden NUL")


def test_rows_can_be_iterated_again():
    """Iterating a parsed file twice gives the same rows."""
    parsed = read(lines(HEADER, ADA, BOB))
    assert list(parsed.iter_rows()) == list(parsed.iter_rows())


# --- Streaming ----------------------------------------------------------------


def _write_contacts(path: Path, count: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(CONTACT_FIELDS)
        for index in range(count):
            writer.writerow(
                [
                    f"First{index}",
                    f"Last{index}",
                    "Head of Sales",
                    f"Company {index % 997}",
                    f"company{index % 997}.com",
                    f"first{index}@company{index % 997}.com",
                    f"+44 20 7946 {index % 10_000:04d}",
                    "London",
                    "GB",
                ]
            )


def test_streamed_read_of_200k_rows(tmp_path):
    """A 200,000-row file streams from disk, every row parsed and numbered."""
    path = tmp_path / "contacts.csv"
    _write_contacts(path, 200_000)
    parsed = stream_csv(
        path,
        fields=CONTACT_FIELDS,
        aliases=CONTACT_HEADER_ALIASES,
        required=missing_contact_headings,
        max_rows=None,
    )
    assert parsed.row_count is None
    count = 0
    last = None
    for row in parsed.iter_rows():
        assert row.problem is None
        count += 1
        last = row
    assert count == 200_000
    assert last is not None
    assert last.number == 200_001
    assert last.values["email"] == "first199999@company599.com"


def test_stream_counts_rows_when_capped(tmp_path):
    """With max_rows, a streamed file is counted and refused before any row."""
    path = tmp_path / "contacts.csv"
    _write_contacts(path, 120)
    with pytest.raises(CsvRejected) as caught:
        stream_csv(path, **{**CONTACTS, "max_rows": 100})
    assert caught.value.message.startswith("This file has 120 rows")
    assert stream_csv(path, **{**CONTACTS, "max_rows": 120}).row_count == 120


def test_stream_from_file_objects_leaves_them_open():
    """Binary and text file objects stream too, and stay open."""
    binary = io.BytesIO(lines(HEADER, "René,Dupré,CTO,Acme,r@a.fr,").encode("cp1252"))
    parsed = stream_csv(binary, **CONTACTS)
    assert parsed.encoding == "cp1252"
    assert [row.values["first_name"] for row in parsed] == ["René"]
    assert [row.values["last_name"] for row in parsed] == ["Dupré"]
    assert not binary.closed
    text = io.StringIO(lines(HEADER, ADA, BOB))
    assert [row.number for row in stream_csv(text, **CONTACTS)] == [2, 3]


def test_stream_detects_utf16_and_refuses_binary(tmp_path):
    """Streaming applies the same encoding rules and refusals."""
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes(lines(HEADER, "Zoë,Ü,CTO,Acme,z@acme.com,").encode("utf-16"))
    parsed = stream_csv(utf16, **CONTACTS)
    assert parsed.encoding == "utf-16"
    assert next(iter(parsed)).values["first_name"] == "Zoë"
    workbook = tmp_path / "book.csv"
    workbook.write_bytes(_zip_bytes("[Content_Types].xml", "xl/workbook.xml"))
    with pytest.raises(CsvRejected, match="Excel workbook"):
        stream_csv(workbook, **CONTACTS)
    late_nul = tmp_path / "late_nul.csv"
    late_nul.write_bytes(lines(HEADER, *[ADA] * 20_000).encode() + b"\x00")
    with pytest.raises(CsvRejected, match="does not look like a CSV"):
        stream_csv(late_nul, **CONTACTS)


def test_stream_of_headings_only_is_refused(tmp_path):
    """A streamed file with headings and blank lines only has no rows."""
    path = tmp_path / "headings.csv"
    path.write_text(lines(HEADER, "", ",,,,,"))
    with pytest.raises(CsvRejected, match="headings but no rows"):
        stream_csv(path, **{**CONTACTS, "max_rows": None})


def test_stream_raises_broken_quoting_from_the_iterator(tmp_path):
    """Without a count, broken quoting surfaces while iterating, with its row."""
    path = tmp_path / "broken.csv"
    path.write_text(lines(HEADER, ADA, BOB, 'Cy,"Young,CFO,Acme,c@acme.com,'))
    parsed = stream_csv(path, **{**CONTACTS, "max_rows": None})
    rows = parsed.iter_rows()
    assert next(rows).number == 2
    assert next(rows).number == 3
    with pytest.raises(CsvRejected, match="Row 4 has a quote mark"):
        next(rows)


def test_field_size_limit_is_restored_after_interleaved_reads():
    """Concurrent reads raise the csv limit while running and restore it after."""
    limit_before = csv.field_size_limit()
    long_row = f"Eve,Long,{'x' * 200_000},Acme,eve@acme.com,"
    first = iter(read(lines(HEADER, long_row, long_row)))
    second = iter(read(lines(HEADER, long_row, long_row)))
    assert next(first).problem
    assert next(second).problem
    assert next(first).problem
    assert list(first) == []
    assert next(second).problem
    assert list(second) == []
    assert csv.field_size_limit() == limit_before


# --- Writing ------------------------------------------------------------------


def test_write_csv_escapes_formulas_and_quotes_per_rfc4180():
    """Downloads escape formula cells, quote as RFC 4180 says, end rows in CRLF."""
    text = write_csv(
        ["name", "=header"],
        [
            ["=1+1", None],
            ["+44 20 7946 0958", -12],
            ['Smith, "Jr"', "two\nlines"],
            ["@me", "\tx"],
        ],
    )
    assert text == (
        "name,'=header\r\n"
        "'=1+1,\r\n"
        "+44 20 7946 0958,-12\r\n"
        '"Smith, ""Jr""","two\nlines"\r\n'
        "'@me,'\tx\r\n"
    )
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["name", "'=header"],
        ["'=1+1", ""],
        ["+44 20 7946 0958", "-12"],
        ['Smith, "Jr"', "two\nlines"],
        ["'@me", "'\tx"],
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        (-5, "-5"),
        (2.5, "2.5"),
        ("-5", "-5"),
        ("-", "-"),
        ("+14048359068", "+14048359068"),
        ("+1 (404) 835-9068", "+1 (404) 835-9068"),
        ("-12.5", "-12.5"),
        ("-2+3", "'-2+3"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("+A1", "'+A1"),
        ("-SUM(A1:A2)", "'-SUM(A1:A2)"),
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\r1", "'\r1"),
        (" =cmd", "' =cmd"),
        (" +A1", "' +A1"),
        (" +44 20", " +44 20"),
        ("\r=x", "'\r=x"),
        ("\0=x", "'\0=x"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_formula_escape(value, expected):
    """Text a spreadsheet would run gets an apostrophe; phone numbers, signed
    numbers and numbers are written unchanged."""
    assert formula_escape(value) == expected


def test_iter_csv_streams_in_chunks_that_join_to_write_csv():
    """The streamed download is the same text, in more than one chunk."""
    rows = [[f"name {index}", index, "=x"] for index in range(20_000)]
    chunks = list(iter_csv(["a", "b", "c"], rows))
    assert len(chunks) > 1
    assert "".join(chunks) == write_csv(["a", "b", "c"], rows)


@given(
    st.lists(
        st.lists(
            st.text(max_size=12),
            min_size=len(CONTACT_FIELDS),
            max_size=len(CONTACT_FIELDS),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_write_then_read_round_trips(rows):
    """Any text written and read back is unchanged but for escaping and strip."""
    text = write_csv(CONTACT_FIELDS, rows)
    written = [[formula_escape(cell) for cell in row] for row in rows]
    kept = [
        (original, escaped)
        for original, escaped in zip(rows, written, strict=True)
        if "".join(escaped).strip()
    ]
    options = {
        "fields": CONTACT_FIELDS,
        "aliases": {},
        "required": set(),
        "max_rows": None,
    }
    if not kept:
        with pytest.raises(CsvRejected):
            read_csv(text, **options)
        return
    parsed = list(read_csv(text, **options))
    assert len(parsed) == len(kept)
    for row, (original, escaped) in zip(parsed, kept, strict=True):
        for name, cell, out in zip(CONTACT_FIELDS, original, escaped, strict=True):
            if out != cell:
                assert row.values[name].startswith("'")
            assert row.values[name] == out.strip()
