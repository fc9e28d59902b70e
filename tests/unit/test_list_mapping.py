"""List files: headings auto-mapped (CRM exports, fuzzy), names split."""

from __future__ import annotations

import pytest

from portal.contactfields import LIST_FIELDS, LIST_HEADER_ALIASES
from portal.csvfiles import CsvRejected, ParsedRow, propose_mapping
from portal.lists.matchfile import list_row, open_list_file

CRM_EXPORTS = {
    "salesforce": (
        "Contact ID,First Name,Last Name,Title,Account Name,Email,Business Phone,"
        "Mailing City,Mailing Country",
        ["record_id", "first_name", "last_name", "title", "company", "email",
         "phone", "city", "country"],
    ),
    "hubspot": (
        "Record ID,First Name,Last Name,Email,Phone Number,Company Name,Job Title,"
        "City,Country/Region,Website URL",
        ["record_id", "first_name", "last_name", "email", "phone", "company",
         "title", "city", "country", "company_domain"],
    ),
    "dynamics": (
        "(Do Not Modify) Contact,Full Name,Company Name,Job Title,Business Phone,"
        "Email,Address 1: City,Address 1: Country/Region",
        ["record_id", "full_name", "company", "title", "phone", "email", "city",
         "country"],
    ),
    "pipedrive": (
        "Person - ID,Person - Name,Person - Organization,Person - Email - Work,"
        "Person - Phone - Work,Person - Job title",
        ["record_id", "full_name", "company", "email", "phone", "title"],
    ),
    "apollo": (
        "First Name,Last Name,Title,Company,Company Name for Emails,Email,"
        "Work Direct Phone,Corporate Phone,City,Country,Website,Apollo Contact Id",
        ["first_name", "last_name", "title", "company", None, "email", "phone",
         None, "city", "country", "company_domain", "record_id"],
    ),
    "zoominfo": (
        "ZoomInfo Contact ID,First Name,Last Name,Job Title,Company Name,Website,"
        "Email Address,Direct Phone Number,Person City,Country,Email Domain",
        ["record_id", "first_name", "last_name", "title", "company",
         "company_domain", "email", "phone", "city", "country", None],
    ),
}  # fmt: skip


def proposed(heading_row: str) -> list[str | None]:
    cells = heading_row.split(",")
    header = propose_mapping(cells, fields=LIST_FIELDS, aliases=LIST_HEADER_ALIASES)
    return [header.columns.get(i) for i in range(len(cells))]


@pytest.mark.parametrize("crm", sorted(CRM_EXPORTS))
def test_crm_export_headings_map_to_fields(crm):
    """Each CRM's export headings map onto our fields; a second column for a
    field already taken is left unmapped, not refused."""
    heading_row, expected = CRM_EXPORTS[crm]
    assert proposed(heading_row) == expected


def test_typos_map_fuzzily_and_personal_columns_never_do():
    """ "Frist Name" and "Emial Address" map; mobile and home phones do not."""
    assert proposed("Frist Name,Lsat Name,Emial Address,Mobile Phone,Home Phone") == [
        "first_name",
        "last_name",
        "email",
        None,
        None,
    ]


def test_full_name_is_split():
    """A full name is split into first and last, honorifics and suffixes out."""
    row = list_row(ParsedRow(2, {"full_name": "Dr. Mary-Ann O'Neill Jr."}))
    assert (row.first_name, row.last_name) == ("Mary-Ann", "O'Neill")
    reversed_row = list_row(ParsedRow(3, {"full_name": "Smith, John"}))
    assert (reversed_row.first_name, reversed_row.last_name) == ("John", "Smith")


def test_a_mapping_without_names_is_refused(tmp_path):
    """No name column at all: a clear refusal, not a run of invalid rows."""
    path = tmp_path / "list.csv"
    path.write_text("Company,Email\nAcme,jo@acme.com\n")
    with pytest.raises(CsvRejected, match="No column holds the people's names"):
        open_list_file(path)


def test_overrides_remap_and_unmap_columns(tmp_path):
    """--map style overrides win over the proposal; '-' leaves a column out;
    an unknown heading or field is named."""
    path = tmp_path / "list.csv"
    path.write_text("Name,Employer Name,Email\nJo Bloggs,Acme,jo@acme.com\n")
    parsed = open_list_file(path, {"Employer Name": "company", "Email": "-"})
    assert parsed.header.columns == {0: "full_name", 1: "company"}
    with pytest.raises(CsvRejected, match="no column headed 'Phone'"):
        open_list_file(path, {"Phone": "phone"})
    with pytest.raises(CsvRejected, match="'mobile' is not a field"):
        open_list_file(path, {"Email": "mobile"})
