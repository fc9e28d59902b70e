"""The contact field vocabulary: field names and the headings that mean them.

Forms and CSV headers alike use the names of SPEC section 10 (``first_name``,
``last_name``, ``title``, ``company``, ``company_domain``, ``email``,
``phone``, ``city``, ``country``). A list a company sends may also have a
``full_name`` column (split with nameparser) and its own ``record_id``,
carried through untouched. The headings map onto fields through
``portal.csvfiles`` (exactly, then fuzzily for lists).
"""

from __future__ import annotations

from nameparser import HumanName

from portal.csvfiles import missing_message, normalise_heading

CONTACT_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "title",
    "company",
    "company_domain",
    "email",
    "phone",
    "city",
    "country",
)

# Spellings seen in spreadsheets and CRM exports (Salesforce reports and Data
# Loader, HubSpot, LinkedIn Sales Navigator exporters, Apollo, ZoomInfo).
# Deliberately absent: mobile, home and personal columns (business data only),
# company switchboard numbers and company address columns (not the person's),
# and second spellings that the same export also contains, such as Apollo's
# "Company Name for Emails" and ZoomInfo's "Email Domain", which would make
# those files refused for duplicate columns.
_CONTACT_HEADINGS: dict[str, tuple[str, ...]] = {
    "first_name": ("First Name", "Firstname", "First", "Given Name", "Forename"),
    "last_name": ("Last Name", "Lastname", "Last", "Surname", "Family Name"),
    "title": (
        "Title",
        "Job Title",
        "Jobtitle",
        "Position",
        "Job Position",
        "Role",
        "Job Role",
        "Designation",
    ),
    "company": (
        "Company",
        "Company Name",
        "Account Name",
        "Account",
        "Organization",
        "Organisation",
        "Organization Name",
        "Organisation Name",
        "Employer",
        "Current Company",
        "Business Name",
    ),
    "company_domain": (
        "Company Domain",
        "Company Domain Name",
        "Domain",
        "Website",
        "Web Site",
        "Website URL",
        "Company Website",
        "Company URL",
        "Account Website",
    ),
    "email": (
        "Email",
        "E-mail",
        "Email Address",
        "E-mail Address",
        "Work Email",
        "Work Email Address",
        "Business Email",
        "Business Email Address",
    ),
    "phone": (
        "Phone",
        "Phone Number",
        "Telephone",
        "Telephone Number",
        "Tel",
        "Work Phone",
        "Business Phone",
        "Direct Dial",
        "Direct Phone",
        "Direct Phone Number",
        "Work Direct Phone",
        "Office Phone",
    ),
    "city": ("City", "Town", "City/Town", "Person City", "Mailing City"),
    "country": (
        "Country",
        "Country Code",
        "Country/Region",
        "Country Name",
        "Person Country",
        "Mailing Country",
    ),
}

CONTACT_HEADER_ALIASES: dict[str, str] = {
    normalise_heading(heading): contact_field
    for contact_field, headings in _CONTACT_HEADINGS.items()
    for heading in (contact_field, *headings)
}


def missing_contact_headings(found: set[str]) -> str | None:
    """The contact rule for required columns, as a ``required`` for
    ``read_csv``.

    first_name, last_name, title, email and one of company / company_domain are
    required. Returns the refusal naming the missing headings, or None.
    """
    missing = [
        name for name in ("first_name", "last_name", "title") if name not in found
    ]
    if not found & {"company", "company_domain"}:
        missing.append("company (or company_domain)")
    if "email" not in found:
        missing.append("email")
    return missing_message(missing) if missing else None


# A list's extra columns, and the CRM export headings that mean each field
# there: Salesforce (reports, Data Loader), HubSpot, Dynamics 365, Pipedrive,
# Apollo and ZoomInfo. Second spellings that one export also holds stay out of
# the contact headings (a member's upload would be refused for two columns
# meaning one field); a list takes the first and leaves the others unmapped.
LIST_FIELDS: tuple[str, ...] = (*CONTACT_FIELDS, "full_name", "record_id")

_LIST_HEADINGS: dict[str, tuple[str, ...]] = {
    "first_name": ("Person - First name", "First name (Person)"),
    "last_name": ("Person - Last name", "Last name (Person)"),
    "full_name": (
        "Full Name",
        "Name",
        "Contact Name",
        "Contact Full Name",
        "Person Name",
        "Person - Name",
        "Lead Name",
    ),
    "title": ("Person - Job title", "Job title (Person)"),
    "company": (
        "Organization - Name",
        "Person - Organization",
        "Company / Account",
        "Company Name for Emails",
        "Parent Account",
    ),
    "company_domain": ("Email Domain", "Organization - Website", "Website Domain"),
    "email": (
        "Person - Email",
        "Person - Email - Work",
        "Email - Work",
        "Email Address 1",
        "Primary Email",
        "E-mail 1",
    ),
    "phone": (
        "Person - Phone",
        "Person - Phone - Work",
        "Phone - Work",
        "Corporate Phone",
        "Business Phone Number",
        "Main Phone",
    ),
    "city": ("Address 1: City", "Mailing City/Town", "Contact City"),
    "country": (
        "Address 1: Country/Region",
        "Address 1: Country",
        "Contact Country",
    ),
    "record_id": (
        "Record ID",
        "Contact ID",
        "Lead ID",
        "ID",
        "Id",
        "External ID",
        "CRM ID",
        "Person - ID",
        "Apollo Contact Id",
        "ZoomInfo Contact ID",
        "(Do Not Modify) Contact",
        "Contact Id (18)",
        "Hubspot ID",
    ),
}

LIST_HEADER_ALIASES: dict[str, str] = {
    **CONTACT_HEADER_ALIASES,
    **{
        normalise_heading(heading): list_field
        for list_field, headings in _LIST_HEADINGS.items()
        for heading in (list_field, *headings)
    },
}


def missing_list_headings(found: set[str]) -> str | None:
    """The list rule for required columns: a name (first and last name, or a
    full name). Returns the refusal, or None."""
    if "full_name" in found or {"first_name", "last_name"} <= found:
        return None
    return (
        "No column holds the people's names. Map a full name column, or both a "
        "first name and a last name column, and try again."
    )


def split_full_name(text: str) -> tuple[str, str]:
    """(first name, last name) of a full name, honorifics and suffixes left
    out (nameparser): "Dr. Mary-Ann O'Neill Jr." -> ("Mary-Ann", "O'Neill");
    "Smith, John" -> ("John", "Smith")."""
    name = HumanName(text.strip())
    return name.first, name.last
