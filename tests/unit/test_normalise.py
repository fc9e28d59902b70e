"""Contributed fields are normalised, and refused with a plain message when junk."""

from __future__ import annotations

import importlib
import pkgutil

import faker.providers.person
import pytest

from portal.normalise import (
    FieldProblem,
    check_business_email,
    email_domain,
    normalise_business_email,
    normalise_city,
    normalise_company_display_name,
    normalise_country,
    normalise_domain,
    normalise_person_name,
    normalise_phone,
    normalise_title,
)

JUNK_NAME = "This does not look like a real last name."
NOT_BUSINESS_LINE = "Tessera only holds business lines"


def refusal(function, *args, **kwargs) -> str:
    with pytest.raises(FieldProblem) as problem:
        function(*args, **kwargs)
    assert problem.value.message == str(problem.value)
    return problem.value.message


# --- Person names -----------------------------------------------------------


def faker_names() -> dict[str, set[str]]:
    """Every first and last name in every Faker person locale."""
    names: dict[str, set[str]] = {"first name": set(), "last name": set()}
    for module in pkgutil.iter_modules(faker.providers.person.__path__):
        provider = importlib.import_module(
            f"faker.providers.person.{module.name}"
        ).Provider
        for attribute, part in (
            ("first_names", "first name"),
            ("first_names_male", "first name"),
            ("first_names_female", "first name"),
            ("last_names", "last name"),
        ):
            values = vars(provider).get(attribute)
            if isinstance(values, dict | tuple | list | set | frozenset):
                names[part].update(" ".join(value.split()) for value in values)
    return names


# Faker's lists carry a few entries that are not a name as a person types it:
# Nepali and Tamil annotations in brackets or after a comma, Dutch sort forms
# ("Bourgondië, van"), a garbled Turkish name, and "Unknown" itself.
def _is_faker_artefact(name: str) -> bool:
    return name == "Unknown" or any(mark in name for mark in "(),;˜")


def test_real_names_from_every_faker_locale_are_accepted():
    """Tens of thousands of real first and last names, in 86 locales, pass."""
    refused = []
    changed = []
    checked = 0
    for part, names in faker_names().items():
        for name in sorted(names):
            if _is_faker_artefact(name):
                continue
            checked += 1
            try:
                result = normalise_person_name(name, part=part)
            except FieldProblem as problem:
                refused.append((part, name, problem.message))
                continue
            typed = name.replace("’", "'").replace("‘", "'")
            if name not in (name.lower(), name.upper()) and result != typed:
                changed.append((typed, result))
    assert checked > 50_000
    assert refused == []
    # Mixed case is kept as typed (curly apostrophes made plain); only a
    # generational suffix may go.
    assert all(result.split() == name.split()[:-1] for name, result in changed)
    assert len(changed) < 5


HARD_REAL_NAMES = [
    "Nguyen", "Ng", "Xu", "Yi", "Li", "Wu", "Do", "Le", "Przybylski",
    "Krzysztof", "Schwarzschild", "Llwyd", "Ó Súilleabháin", "Mkhize",
    "Tshabalala", "Wojciechowski", "Szczepański", "Brzęczyszczykiewicz",
    "Dijkstra", "Lundström", "Hirschsprung", "Hengstberger", "Vlk", "Plch",
    "Trnka", "Štrljić", "Mtsvetadze", "Tkhilaishvili", "Ntshangase", "Ngcobo",
    "Nkosi", "Mac an tSionnaigh", "Ng'ang'a", "van 't Hooft", "'t Hooft",
    "de la O", "DeShawn", "deBoer", "McDonald", "O'Neill", "King", "Bishop",
    "Judge", "Lulu", "Chirchir", "Nhlanhla", "Yeyeye", "Flaherty", "Kertzmann",
    "Wertheimer", "Aaaqil", "Məhərrəm", "李", "김", "Иванов", "Ἀλέξανδρος",
]  # fmt: skip


@pytest.mark.parametrize("name", HARD_REAL_NAMES)
def test_hard_real_names_are_kept_as_typed(name):
    """Consonant clusters, short names, particles and other scripts pass unchanged."""
    assert normalise_person_name(name, part="last name") == name


MASH = [
    "asdf", "ASDF", "Asdf", "qwerty", "Qwertz", "azerty", "sdfsdf", "asdasd",
    "qweqwe", "xxxx", "XXX", "jjjjj", "aaaa", "zxcvb", "zxcvbnm", "hjkl",
    "jkjkjk", "dfdfdf", "fghj", "ghjk", "bcdfg", "fjdksl", "sdfgh", "lkjh",
    "poiuy", "mnbvc", "kdkdkd", "hjkhjk", "ghfjdk", "wxcvbn", "Smithhhh",
    "qqqq", "xx", "bcdf", "test", "Test", "unknown", "none", "NULL", "xyz",
    "abc", "blah", "dummy", "firstname", "last name", "John Asdf",
    "Mary sdfsdf",
]  # fmt: skip


@pytest.mark.parametrize("junk", MASH)
def test_keyboard_mash_and_placeholders_are_refused(junk):
    """Mash, repeated letters and placeholders are not names."""
    message = refusal(normalise_person_name, junk, part="last name")
    assert message == (f"{JUNK_NAME} Enter the person's last name as they write it.")


@pytest.mark.parametrize(
    ("raw", "part", "expected"),
    [
        ("  mary-ann  ", "first name", "Mary-Ann"),
        ("Dr Jane", "first name", "Jane"),
        ("Prof. Dr. Hans", "first name", "Hans"),
        ("Mrs  Smith", "last name", "Smith"),
        ("Smith Jr.", "last name", "Smith"),
        ("Smith, Jr.", "last name", "Smith"),
        ("Smith III", "last name", "Smith"),
        ("Smith PhD", "last name", "Smith"),
        ("Smith M.D.", "last name", "Smith"),
        ("Smith, CPA", "last name", "Smith"),
        ("Silva Junior", "last name", "Silva Junior"),
        ("John Obi", "first name", "John Obi"),
        ("mcdonald", "last name", "McDonald"),
        ("MCDONALD", "last name", "McDonald"),
        ("o'neill", "last name", "O'Neill"),
        ("D’ANGELO", "last name", "D'Angelo"),
        ("VAN DER BERG", "last name", "Van der Berg"),
        ("DE LA CRUZ", "last name", "De la Cruz"),
        ("maria del carmen", "first name", "Maria del Carmen"),
        ("JEAN-PIERRE", "first name", "Jean-Pierre"),
        ("ó súilleabháin", "last name", "Ó Súilleabháin"),
        ("İHSANOĞLU", "last name", "İhsanoğlu"),
        ("Smith – Jones", "last name", "Smith-Jones"),
        ("O’Brien", "last name", "O'Brien"),
        ("DeShawn", "first name", "DeShawn"),
        ("j", "first name", "J."),
        ("J.", "first name", "J."),
        ("j.r.", "first name", "J.R."),
        ("J. Robert", "first name", "J. Robert"),
    ],
)
def test_names_are_tidied(raw, part, expected):
    """Whitespace, honorifics, suffixes and single-case input are evened out."""
    assert normalise_person_name(raw, part=part) == expected


@pytest.mark.parametrize(
    ("raw", "part", "message"),
    [
        ("", "first name", "Enter a first name."),
        ("   ", "last name", "Enter a last name."),
        ("A" * 101, "last name", "A last name can be at most 100 characters."),
        (
            "jane@acme.com",
            "first name",
            "This looks like an email address. Enter the person's first name here.",
        ),
        (
            "acme.com",
            "last name",
            "This looks like a web address. Enter the person's last name here.",
        ),
        (
            "www.smith",
            "last name",
            "This looks like a web address. Enter the person's last name here.",
        ),
        (
            "https://x.io/jo",
            "last name",
            "This looks like a web address. Enter the person's last name here.",
        ),
        ("Smith2", "last name", "A last name cannot contain numbers."),
        ("R2D2", "first name", "A first name cannot contain numbers."),
        (
            "Smith!",
            "last name",
            "A last name can only contain letters, spaces, hyphens, apostrophes "
            "and full stops.",
        ),
        (
            "n/a",
            "last name",
            "A last name can only contain letters, spaces, hyphens, apostrophes "
            "and full stops.",
        ),
        ("Smith, John", "last name", "Enter only the last name here."),
        ("Mr", "last name", "Enter the person's last name, not a title like Mr or Dr."),
        (
            "Dr.",
            "first name",
            "Enter the person's first name, not a title like Mr or Dr.",
        ),
        ("J", "last name", "Enter the full last name, not an initial."),
        ("J.", "last name", "Enter the full last name, not an initial."),
    ],
)
def test_names_are_refused_with_a_plain_message(raw, part, message):
    """Each kind of bad name gets its own message, naming the field."""
    assert refusal(normalise_person_name, raw, part=part) == message


def test_a_one_character_cjk_surname_is_not_an_initial():
    """李 is a whole surname; J is an initial."""
    assert normalise_person_name("李", part="last name") == "李"
    assert refusal(normalise_person_name, "j", part="last name")


def test_field_problem_is_a_value_error():
    """Callers that catch ValueError also catch refusals."""
    with pytest.raises(ValueError, match="Enter a name."):
        normalise_person_name("")


# --- Job titles -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  SVP, GLOBAL SALES - EMEA. ", "SVP, Global Sales - EMEA"),
        ("vp of sales", "VP of Sales"),
        ("HEAD OF IT", "Head of IT"),
        ("chief executive officer", "Chief Executive Officer"),
        ("sr. software engineer", "Sr. Software Engineer"),
        ("vice-president, r&d", "Vice-President, R&D"),
        ("senior vp fp&a", "Senior VP FP&A"),
        ("VP/GM", "VP/GM"),
        ("ciso", "CISO"),
        ("engineer iii", "Engineer III"),
        ("  -- Sales Manager --  ", "Sales Manager"),
        ("Engineer, Sr.", "Engineer, Sr."),
        ("Director, Product (EMEA)", "Director, Product (EMEA)"),
        ("VP, Sales EMEA", "VP, Sales EMEA"),
        ("ASP.NET Developer", "ASP.NET Developer"),
        (".NET Developer", ".NET Developer"),
        ("Salesforce.com Administrator", "Salesforce.com Administrator"),
        ("SFDC Admin", "SFDC Admin"),
        ("HRBP", "HRBP"),
    ],
)
def test_titles_are_tidied(raw, expected):
    """Spacing, edge punctuation and single-case titles are evened out."""
    assert normalise_title(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Enter a job title."),
        (" - ", "Enter a job title."),
        ("x" * 201, "A job title can be at most 200 characters."),
        (
            "jo@acme.com",
            "This looks like an email address. Enter the person's job title here.",
        ),
        (
            "www.acme.com",
            "This looks like a web address. Enter the person's job title here.",
        ),
        (
            "acme.com",
            "This looks like a web address. Enter the person's job title here.",
        ),
        ("12345", "Enter the job title in words, like Sales Director."),
        ("n/a", "Enter the person's real job title, like Sales Director."),
        ("NA", "Enter the person's real job title, like Sales Director."),
        ("test", "Enter the person's real job title, like Sales Director."),
        (
            "qwerty sdfsdf",
            "This does not look like a real job title. Enter it as the person "
            "uses it, like Sales Director.",
        ),
    ],
)
def test_titles_are_refused_with_a_plain_message(raw, message):
    """Empty, overlong, addresses, numbers and mash are not job titles."""
    assert refusal(normalise_title, raw) == message


# --- Email addresses --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("John.Smith@ACME.com", "john.smith@acme.com"),
        ("  jo@acme.co.uk ", "jo@acme.co.uk"),
        ("mailto:jo@acme.com", "jo@acme.com"),
        ("jo@münchen.de", "jo@xn--mnchen-3ya.de"),
    ],
)
def test_emails_are_lower_cased_with_an_ascii_domain(raw, expected):
    """One address, one form: lower case, punycode domain."""
    assert normalise_business_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Enter an email address."),
        ("john", "Enter a full email address, like name@company.com."),
        ("john smith@acme.com", "An email address cannot contain spaces."),
        ("J <j@acme.com>", "Enter just the email address, like name@company.com."),
        (
            "john@acme",
            "The part after @ must be a full domain, like name@company.com.",
        ),
        (
            "jo..hn@acme.com",
            "This is not a valid email address. Check it for typos; it should "
            "look like name@company.com.",
        ),
        (
            "john@@acme.com",
            "This is not a valid email address. Check it for typos; it should "
            "look like name@company.com.",
        ),
    ],
)
def test_bad_emails_are_refused_with_a_plain_message(raw, message):
    """Syntax errors come back in plain words, not the library's."""
    assert refusal(normalise_business_email, raw) == message


def test_email_domain():
    """The domain is the lower-cased part after the last @."""
    assert email_domain("jo@Acme.COM") == "acme.com"
    assert refusal(email_domain, "jo") == (
        "Enter a full email address, like name@company.com."
    )


@pytest.mark.parametrize(
    "domain", ["gmail.com", "yahoo.co.uk", "outlook.com", "gmx.de", "icloud.com"]
)
def test_personal_email_providers_are_refused(domain):
    """Free-mail addresses are personal, not business."""
    assert refusal(check_business_email, f"jo@{domain}") == (
        f"{domain} is a personal email provider. Tessera only holds business "
        "addresses (name@company.com)."
    )


@pytest.mark.parametrize(
    "domain",
    ["mailinator.com", "guerrillamail.com", "10minutemail.com", "yopmail.com"],
)
def test_disposable_email_services_are_refused(domain):
    """Throwaway addresses are refused with their own message."""
    assert refusal(check_business_email, f"jo@{domain}") == (
        f"{domain} is a disposable email service: its addresses stop working "
        "within days. Tessera only holds business addresses (name@company.com)."
    )


def test_free_and_disposable_messages_differ():
    """A salesperson can tell a personal address from a throwaway one."""
    personal = refusal(check_business_email, "jo@gmail.com")
    disposable = refusal(check_business_email, "jo@mailinator.com")
    assert "personal email provider" in personal
    assert "disposable email service" in disposable


def test_subdomains_of_listed_domains_are_refused():
    """foo.mailinator.com is mailinator; cinci.rr.com is Road Runner home mail."""
    assert "disposable" in refusal(check_business_email, "jo@foo.mailinator.com")
    assert "personal" in refusal(check_business_email, "jo@cinci.rr.com")


@pytest.mark.parametrize(
    "email", ["jo@acme.com", "jo@apple.com", "jo@baudoinconsulting.com"]
)
def test_business_addresses_pass(email):
    """A company's own domain, including one the free list holds by mistake."""
    assert check_business_email(email) is None


# --- Company domains --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://www.Acme.com/about", "acme.com"),
        ("acme.com", "acme.com"),
        ("www.acme.co.uk", "acme.co.uk"),
        ("ACME.COM.", "acme.com"),
        ("http://user@acme.com:8080/x?y=1", "acme.com"),
        ("careers.acme.com", "careers.acme.com"),
        ("münchen.de", "xn--mnchen-3ya.de"),
    ],
)
def test_domains_are_normalised(raw, expected):
    """Scheme, www, path and case go; IDNs become punycode."""
    assert normalise_domain(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Enter the company's website, like acme.com."),
        ("acme", "This is not a website domain. Enter it like acme.com."),
        ("acme corp", "A website cannot contain spaces. Enter it like acme.com."),
        (
            "jo@acme.com",
            "This is an email address. Enter the company's website, like acme.com.",
        ),
        ("-acme.com", "This is not a website domain. Enter it like acme.com."),
        ("acme.c0m", "This is not a website domain. Enter it like acme.com."),
    ],
)
def test_non_domains_are_refused(raw, message):
    """Words, emails and malformed hosts are not domains."""
    assert refusal(normalise_domain, raw) == message


# --- Phone numbers ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("+44 20 7946 0958", None, "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+44 20 7946 0958 ext. 123", "GB", "+442079460958"),
        ("(650) 253-0000", "US", "+16502530000"),
        ("+1 202 456 1111", "GB", "+12024561111"),
        ("030 901820", "DE", "+4930901820"),
    ],
)
def test_business_lines_are_accepted_in_e164(raw, country, expected):
    """Landlines (and US numbers, which may be either) come back as E.164."""
    assert normalise_phone(raw, country) == expected


@pytest.mark.parametrize(
    ("raw", "country", "message"),
    [
        (
            "+44 7911 123456",
            None,
            "This looks like a mobile number. Tessera only holds business lines: "
            "enter the office number or switchboard.",
        ),
        (
            "07911 123456",
            "GB",
            "This looks like a mobile number. Tessera only holds business lines: "
            "enter the office number or switchboard.",
        ),
        (
            "+49 151 23456789",
            None,
            "This looks like a mobile number. Tessera only holds business lines: "
            "enter the office number or switchboard.",
        ),
        (
            "0171 1234567",
            "DE",
            "This looks like a mobile number. Tessera only holds business lines: "
            "enter the office number or switchboard.",
        ),
        (
            "+44 76 2345 6789",
            None,
            "This looks like a pager number. Tessera only holds business lines: "
            "enter the office number or switchboard.",
        ),
        (
            "+44 70 1234 5678",
            None,
            "This is a personal number that follows the person, not the office. "
            "Tessera only holds business lines: enter the office number or "
            "switchboard.",
        ),
    ],
)
def test_mobile_pager_and_personal_numbers_are_refused(raw, country, message):
    """Numbers that follow a person rather than an office are refused."""
    assert refusal(normalise_phone, raw, country) == message


@pytest.mark.parametrize(
    ("raw", "country", "message"),
    [
        ("", "GB", "Enter a phone number."),
        (
            "020 1234",
            "GB",
            "This is not a valid phone number for United Kingdom. Check the "
            "digits, or start with + and the country code if the line is abroad.",
        ),
        # Ofcom's drama range (07700 900xxx) is not a number phonenumbers
        # treats as valid, so it is refused before its type is looked at.
        (
            "+44 7700 900123",
            None,
            "This is not a valid phone number for United Kingdom. Check the "
            "digits, or start with + and the country code if the line is abroad.",
        ),
        (
            "650 253 0000",
            None,
            "Start the number with + and its country code, like +44 20 7946 0958.",
        ),
        ("hello", "GB", "This is not a phone number. Enter it like +44 20 7946 0958."),
    ],
)
def test_invalid_numbers_are_refused(raw, country, message):
    """Wrong length, no country and words are refused in plain words."""
    assert refusal(normalise_phone, raw, country) == message


# --- Countries --------------------------------------------------------------

COUNTRY_ALIASES = [
    ("GB", "GB"), ("gb", "GB"), ("GBR", "GB"), ("UK", "GB"), ("U.K.", "GB"),
    ("United Kingdom", "GB"), ("england", "GB"), ("Scotland", "GB"),
    ("Wales", "GB"), ("Northern Ireland", "GB"), ("Great Britain", "GB"),
    ("US", "US"), ("U.S.", "US"), ("USA", "US"), ("United States", "US"),
    ("United States of America", "US"), ("Germany", "DE"),
    ("Deutschland", "DE"), ("DEU", "DE"), ("The Netherlands", "NL"),
    ("Holland", "NL"), ("Côte d'Ivoire", "CI"), ("cote divoire", "CI"),
    ("South Korea", "KR"), ("Russia", "RU"), ("Vietnam", "VN"),
    ("Viet Nam", "VN"), ("Czech Republic", "CZ"), ("Czechia", "CZ"),
    ("Türkiye", "TR"), ("Turkey", "TR"), ("Bolivia", "BO"), ("Iran", "IR"),
    ("Taiwan", "TW"), ("UAE", "AE"), ("España", "ES"), ("Schweiz", "CH"),
    ("Österreich", "AT"), ("  france ", "FR"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "code"), COUNTRY_ALIASES)
def test_countries_and_their_aliases_map_to_alpha_2(raw, code):
    """Codes, names, local names and common aliases all give ISO alpha-2."""
    assert normalise_country(raw) == code


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Enter a country."),
        (
            "Narnia",
            "Tessera does not recognise this country. Enter its English name or "
            "two-letter code, like Germany or DE.",
        ),
        (
            "EU",
            "Tessera does not recognise this country. Enter its English name or "
            "two-letter code, like Germany or DE.",
        ),
    ],
)
def test_unknown_countries_are_refused(raw, message):
    """A value that is not a country is refused."""
    assert refusal(normalise_country, raw) == message


# --- Cities -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  FRANKFURT AM MAIN ", "Frankfurt am Main"),
        ("new york", "New York"),
        ("NEWCASTLE UPON TYNE", "Newcastle upon Tyne"),
        ("rio de janeiro", "Rio de Janeiro"),
        ("saint-germain-en-laye", "Saint-Germain-en-Laye"),
        ("villeneuve-d'ascq", "Villeneuve-d'Ascq"),
        ("'s-hertogenbosch", "'s-Hertogenbosch"),
        ("washington, d.c.", "Washington, D.C."),
        ("halle (saale)", "Halle (Saale)"),
        ("le mans", "Le Mans"),
        ("São Paulo", "São Paulo"),
        ("Paris 8e", "Paris 8e"),
    ],
)
def test_cities_are_tidied(raw, expected):
    """Single-case city names are recased, particles kept lower."""
    assert normalise_city(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Enter a city."),
        ("x" * 101, "A city can be at most 100 characters."),
        ("10115", "Enter the city's name, not a postcode or number."),
        ("jo@acme.com", "This looks like an email address. Enter the city here."),
        ("www.london.gov.uk", "This looks like a web address. Enter the city here."),
    ],
)
def test_bad_cities_are_refused(raw, message):
    """Postcodes and addresses are not cities."""
    assert refusal(normalise_city, raw) == message


# --- Company names ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Acme   GmbH ", "Acme GmbH"),
        ("acme.com", "acme.com"),
        ("3M", "3M"),
        ("1&1", "1&1"),
    ],
)
def test_company_names_are_kept_as_typed(raw, expected):
    """Only spacing changes; a bare domain is a valid company entry."""
    assert normalise_company_display_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Enter the company's name or website."),
        ("x" * 201, "A company name can be at most 200 characters."),
        (
            "jo@acme.com",
            "This looks like an email address. Enter the company's name, or its "
            "website like acme.com.",
        ),
        (
            "https://acme.com",
            "Enter the company's name, or just its domain like acme.com, not a "
            "full web address.",
        ),
    ],
)
def test_bad_company_names_are_refused(raw, message):
    """Emails and full web addresses are not company names."""
    assert refusal(normalise_company_display_name, raw) == message
