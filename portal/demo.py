"""Demo data: a realistic, deterministic directory of companies and contacts.

``generate_demo_data`` fills the directory for local use, demos and benchmarks.
The same seed (and reference day) always produces the same rows; a million
contacts load in well under three minutes on SQLite and PostgreSQL because rows
go in through the driver's bulk path (``executemany`` on sqlite3, ``COPY`` on
psycopg) in large committed batches rather than through the ORM.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
import secrets
import time
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import import_module
from itertools import accumulate, cycle

import phonenumbers
from faker import Faker
from phonenumbers import PhoneNumberType
from sqlalchemy import Connection, bindparam, func, select, text

from portal.auth.services import find_member, register_member
from portal.dialects import BulkWriter, bulk_writer
from portal.extensions import db
from portal.models import Company, CompanyDomain, Contact, Organisation, Role
from portal.models.base import utcnow
from portal.textfold import ascii_fold, normalise_company_name
from portal.titles import classify_title

CONTACTS_PER_COMPANY = 50
BATCH_SIZE = 50_000
_DAY = 86400
_TWO_YEARS = 730 * _DAY
SIZE_BANDS = (
    ("1-10", 10),
    ("11-50", 50),
    ("51-200", 200),
    ("201-500", 500),
    ("501-1000", 1000),
    ("1001-5000", 5000),
    ("5001+", math.inf),
)

# One company keeps one address format for everybody. Big employers use the
# unambiguous first.last style; "first" and "firstl" only work for small teams.
EMAIL_PATTERNS: dict[str, Callable[[str, str], str]] = {
    "first.last": lambda first, last: f"{first}.{last}",
    "flast": lambda first, last: f"{first[0]}{last}",
    "first": lambda first, last: first,
    "firstl": lambda first, last: f"{first}{last[0]}",
    "first_last": lambda first, last: f"{first}_{last}",
    "f.last": lambda first, last: f"{first[0]}.{last}",
}
_LARGE_COMPANY_PATTERNS = ("first.last", "first.last", "flast", "first_last", "f.last")
_SMALL_COMPANY_PATTERNS = tuple(EMAIL_PATTERNS)

# Business lines only: NANP numbers (US) cannot be told apart from mobiles, so
# phonenumbers reports them as FIXED_LINE_OR_MOBILE; anything typed MOBILE is out.
BUSINESS_PHONE_TYPES = frozenset(
    {PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


@dataclass(frozen=True)
class DemoSummary:
    companies: int
    contacts: int
    seconds: float

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class DemoDataExists(ValueError):
    """raised when this seed's demo data is already in the database"""


@dataclass(frozen=True)
class Country:
    code: str
    weight: float
    tld: str
    # The Faker locale that names its people and companies.
    locale: str
    legal_suffixes: tuple[str, ...]
    # (city, area code, national significant number length)
    cities: tuple[tuple[str, str, int], ...]


# (city, area code, national significant number length) per country, the
# business capital first; weights are shares of companies.
# fmt: off
COUNTRIES = (
    Country("US", 34, "com", "en_US", ("Inc.", "LLC", "Corp.", "Inc"), (
        ("New York", "212", 10), ("San Francisco", "415", 10), ("Chicago", "312", 10),
        ("Austin", "512", 10), ("Boston", "617", 10), ("Seattle", "206", 10),
        ("Atlanta", "404", 10), ("Denver", "303", 10), ("Los Angeles", "213", 10),
        ("Dallas", "214", 10), ("Miami", "305", 10),
    )),
    Country("GB", 15, "co.uk", "en_GB", ("Ltd", "Limited", "plc", "LLP"), (
        ("London", "20", 10), ("Manchester", "161", 10), ("Birmingham", "121", 10),
        ("Leeds", "113", 10), ("Glasgow", "141", 10), ("Edinburgh", "131", 10),
        ("Bristol", "117", 10), ("Cambridge", "1223", 10),
    )),
    Country("DE", 12, "de", "de_DE", ("GmbH", "AG", "GmbH & Co. KG", "SE"), (
        ("Berlin", "30", 10), ("München", "89", 10), ("Hamburg", "40", 10),
        ("Frankfurt am Main", "69", 10), ("Köln", "221", 10), ("Stuttgart", "711", 10),
        ("Düsseldorf", "211", 10), ("Leipzig", "341", 10),
    )),
    Country("FR", 8, "fr", "fr_FR", ("SA", "SAS", "SARL"), (
        ("Paris", "1", 9), ("Lyon", "472", 9), ("Marseille", "491", 9),
        ("Toulouse", "561", 9), ("Lille", "320", 9), ("Nantes", "240", 9),
        ("Bordeaux", "556", 9),
    )),
    Country("NL", 6, "nl", "nl_NL", ("B.V.", "N.V."), (
        ("Amsterdam", "20", 9), ("Rotterdam", "10", 9), ("Utrecht", "30", 9),
        ("Den Haag", "70", 9), ("Eindhoven", "40", 9),
    )),
    Country("ES", 5, "es", "es_ES", ("S.L.", "S.A."), (
        ("Madrid", "91", 9), ("Barcelona", "93", 9), ("Valencia", "96", 9),
        ("Sevilla", "954", 9), ("Bilbao", "94", 9), ("Málaga", "952", 9),
    )),
    Country("IT", 5, "it", "it_IT", ("S.p.A.", "S.r.l."), (
        ("Milano", "02", 10), ("Roma", "06", 10), ("Torino", "011", 10),
        ("Bologna", "051", 10), ("Napoli", "081", 10), ("Firenze", "055", 10),
    )),
    Country("SE", 4, "se", "sv_SE", ("AB",), (
        ("Stockholm", "8", 9), ("Göteborg", "31", 9), ("Malmö", "40", 9),
        ("Uppsala", "18", 9),
    )),
    Country("IE", 3, "ie", "en_IE", ("Ltd", "Limited", "DAC"), (
        ("Dublin", "1", 8), ("Cork", "21", 9), ("Galway", "91", 8),
        ("Limerick", "61", 8),
    )),
    Country("DK", 3, "dk", "da_DK", ("A/S", "ApS"), (
        ("København", "3", 8), ("Aarhus", "86", 8), ("Aalborg", "98", 8),
    )),
    Country("AT", 2, "at", "de_AT", ("GmbH", "AG"), (
        ("Wien", "1", 10), ("Graz", "316", 10), ("Linz", "732", 10),
    )),
)
# fmt: on

INDUSTRIES: dict[str, tuple[float, tuple[str, ...]]] = {
    # industry: (weight, words a brand name in it ends with)
    "Software": (14, ("Software", "Systems", "Labs", "Technologies", "Cloud")),
    "IT Services": (8, ("Solutions", "Technologies", "Digital", "IT")),
    "Financial Services": (7, ("Capital", "Financial", "Partners", "Advisors")),
    "Insurance": (3, ("Insurance", "Assurance", "Underwriters")),
    "Manufacturing": (9, ("Industries", "Manufacturing", "Works", "Engineering")),
    "Healthcare": (6, ("Health", "Medical", "Care", "Clinics")),
    "Pharmaceuticals": (3, ("Pharma", "Therapeutics", "Biosciences")),
    "Retail": (6, ("Retail", "Stores", "Outfitters", "Market")),
    "Logistics": (5, ("Logistics", "Freight", "Transport", "Shipping")),
    "Telecommunications": (3, ("Telecom", "Networks", "Communications")),
    "Energy": (3, ("Energy", "Power", "Renewables")),
    "Marketing & Advertising": (5, ("Media", "Creative", "Agency", "Marketing")),
    "Consulting": (6, ("Consulting", "Partners", "Advisory", "Group")),
    "Education": (3, ("Learning", "Education", "Academy")),
    "Real Estate": (3, ("Properties", "Estates", "Realty")),
    "Construction": (4, ("Construction", "Builders", "Building")),
    "Food & Beverage": (4, ("Foods", "Brewing", "Kitchens", "Beverages")),
    "Automotive": (3, ("Automotive", "Motors", "Mobility")),
    "Hospitality": (2, ("Hotels", "Hospitality", "Travel")),
    "Media & Publishing": (2, ("Publishing", "Press", "Studios")),
}

_COUNTRY_CUM = list(accumulate(c.weight for c in COUNTRIES))
_INDUSTRY_NAMES = list(INDUSTRIES)
_INDUSTRY_CUM = list(accumulate(weight for weight, _ in INDUSTRIES.values()))

_BRAND_FIRST = (
    "North", "South", "Blue", "Bright", "Clear", "Silver", "Iron", "Red", "Green",
    "Summit", "Pine", "Harbor", "Apex", "Nova", "Vertex", "Lumen", "Quantum",
    "Atlas", "Cedar", "Orbit", "Pulse", "Stellar", "Oak", "Stone", "River", "Sky",
    "Golden", "Swift", "True", "Bold", "Polar", "Crystal", "Maple", "Falcon",
    "Aurora", "Cobalt", "Granite", "Meridian", "Beacon", "Evergreen",
)  # fmt: skip
_BRAND_SECOND = (
    "wave", "point", "field", "bridge", "path", "line", "gate", "works", "forge",
    "leaf", "peak", "stone", "light", "spark", "view", "wind", "core", "shift",
    "well", "brook", "crest", "haven", "mark", "scale", "sphere", "stream", "vale",
    "wing", "ridge", "port",
)  # fmt: skip

# Titles by department and seniority ("; " between titles), each filed where
# classify_title puts it; the tests hold the two together.
_TITLE_TABLE = """
sales            entry    Account Executive; Sales Development Representative;
                          Business Development Representative; Sales Engineer;
                          Inside Sales Representative; Sales Representative
sales            senior   Senior Account Executive; Senior Sales Engineer;
                          Senior Business Development Representative
sales            manager  Sales Manager; Account Manager; Key Account Manager;
                          Regional Sales Manager; Business Development Manager;
                          Channel Partner Manager
sales            director Sales Director; Director of Sales; Regional Sales Director;
                          Director of Business Development
sales            head     Head of Sales; Head of Business Development;
                          Head of Partnerships
sales            vp       VP Sales; VP of Sales; Vice President, Sales; SVP Sales;
                          VP Business Development
marketing        entry    Marketing Specialist; Marketing Coordinator; Copywriter;
                          Content Marketing Specialist; SEO Specialist;
                          Growth Marketer; Marketing Executive
marketing        senior   Senior Marketing Specialist; Senior Content Strategist;
                          Senior Growth Marketer
marketing        manager  Marketing Manager; Product Marketing Manager; Brand Manager;
                          Demand Generation Manager; Content Marketing Manager;
                          Communications Manager; Events Manager
marketing        director Marketing Director; Director of Marketing;
                          Director of Demand Generation; Director of Communications
marketing        head     Head of Marketing; Head of Growth; Head of Brand;
                          Head of Communications
marketing        vp       VP Marketing; Vice President of Marketing; VP Growth
engineering      entry    Software Engineer; Software Developer; Frontend Developer;
                          Backend Engineer; Full Stack Developer; DevOps Engineer;
                          Site Reliability Engineer; QA Engineer; Test Engineer;
                          Junior Software Engineer
engineering      senior   Senior Software Engineer; Senior DevOps Engineer;
                          Staff Engineer; Principal Engineer; Lead Developer;
                          Senior Frontend Developer; Senior Backend Engineer
engineering      manager  Engineering Manager; Software Development Manager;
                          QA Manager
engineering      director Director of Engineering; Engineering Director
engineering      head     Head of Engineering; Head of Platform Engineering; Head of QA
engineering      vp       VP Engineering; VP of Engineering; SVP Engineering
product          entry    Product Analyst; Product Owner
product          senior   Senior Product Owner; Senior Product Analyst
product          manager  Product Manager; Senior Product Manager;
                          Technical Product Manager; Associate Product Manager;
                          Group Product Manager
product          director Director of Product; Product Director
product          head     Head of Product
product          vp       VP Product; VP of Product
finance          entry    Financial Analyst; Accountant; Accounts Payable Specialist;
                          Accounts Receivable Clerk; Staff Accountant;
                          Billing Specialist; Tax Accountant
finance          senior   Senior Financial Analyst; Senior Accountant;
                          Senior Tax Advisor
finance          manager  Finance Manager; Financial Controller; Controller;
                          Accounting Manager; Tax Manager; FP&A Manager;
                          Treasury Manager
finance          director Finance Director; Director of Finance
finance          head     Head of Finance; Head of Accounting; Head of Tax
finance          vp       VP Finance; VP of Finance
hr               entry    HR Business Partner; Recruiter; HR Generalist;
                          Talent Acquisition Specialist; HR Coordinator;
                          Technical Recruiter; Payroll Specialist
hr               senior   Senior Recruiter; Senior HR Business Partner
hr               manager  HR Manager; Talent Acquisition Manager;
                          People Operations Manager; Learning and Development Manager
hr               director HR Director; Director of People
hr               head     Head of People; Head of HR; Head of Talent
hr               vp       VP People; VP Human Resources
operations       entry    Operations Analyst; Operations Coordinator;
                          Logistics Coordinator; Supply Chain Analyst;
                          Operations Associate
operations       senior   Senior Operations Analyst; Senior Supply Chain Analyst
operations       manager  Operations Manager; Office Manager; Supply Chain Manager;
                          Logistics Manager; Facilities Manager
operations       director Director of Operations; Operations Director
operations       head     Head of Operations; Head of Supply Chain
operations       vp       VP Operations; VP of Operations
it               entry    IT Support Specialist; Systems Administrator;
                          Network Engineer; Help Desk Technician; IT Analyst;
                          Security Analyst
it               senior   Senior Systems Administrator; Senior Network Engineer;
                          Senior Security Analyst
it               manager  IT Manager; Infrastructure Manager
it               director IT Director; Director of Information Security
it               head     Head of IT; Head of Infrastructure
it               vp       VP Information Technology; VP IT
legal            entry    Legal Counsel; Corporate Counsel; Paralegal;
                          Compliance Analyst; Compliance Officer;
                          Data Protection Officer
legal            senior   Senior Legal Counsel; Senior Compliance Analyst
legal            manager  Legal Manager; Compliance Manager
legal            director Director of Legal Affairs; Compliance Director
legal            head     Head of Legal; Head of Compliance
legal            vp       VP Legal
customer_success entry    Customer Support Specialist; Support Engineer;
                          Customer Support Representative; Onboarding Specialist;
                          Implementation Consultant; Customer Success Associate
customer_success senior   Senior Support Engineer; Senior Implementation Consultant
customer_success manager  Customer Success Manager; Customer Support Manager;
                          Implementation Manager; Client Services Manager
customer_success director Director of Customer Success; Customer Support Director
customer_success head     Head of Customer Success; Head of Support
customer_success vp       VP Customer Success; VP Customer Experience
data             entry    Data Analyst; Data Scientist; Data Engineer; BI Developer;
                          Business Intelligence Analyst; Machine Learning Engineer
data             senior   Senior Data Scientist; Senior Data Engineer;
                          Lead Data Scientist; Staff Data Engineer
data             manager  Data Science Manager; BI Manager
data             director Director of Data Science; Director of Data
data             head     Head of Data; Head of Business Intelligence
data             vp       VP Data; VP of Data & Analytics
design           entry    UX Designer; UI Designer; Product Designer;
                          Graphic Designer; UX Researcher
design           senior   Senior Product Designer; Senior UX Designer; Lead Designer
design           manager  Design Manager; UX Manager
design           director Design Director; Creative Director; Art Director
design           head     Head of Design; Head of UX
design           vp       VP Design
procurement      entry    Buyer; Procurement Specialist; Purchasing Agent;
                          Sourcing Specialist; Procurement Analyst
procurement      senior   Senior Buyer; Senior Procurement Specialist
procurement      manager  Procurement Manager; Purchasing Manager; Category Manager
procurement      director Procurement Director; Director of Procurement
procurement      head     Head of Procurement; Head of Purchasing
procurement      vp       VP Procurement
executive        entry    Executive Assistant
executive        manager  General Manager
executive        director Chief of Staff
"""


def _parse_title_table(table: str) -> dict[tuple[str, str], tuple[str, ...]]:
    catalogue: dict[tuple[str, str], list[str]] = {}
    titles: list[str] = []
    for line in table.strip().splitlines():
        if not line.startswith(" "):
            department, seniority, line = line.split(maxsplit=2)
            titles = catalogue.setdefault((department, seniority), [])
        titles.extend(t.strip() for t in line.strip().rstrip(";").split(";"))
    return {key: tuple(names) for key, names in catalogue.items()}


TITLE_CATALOGUE = _parse_title_table(_TITLE_TABLE)

# Each company has at most one of each C-suite role: (department, variants).
# The chief executive comes first; small companies call them founder or MD.
C_SUITE: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "executive",
        ("Chief Executive Officer", "CEO", "Founder & CEO", "Managing Director"),
    ),
    ("finance", ("Chief Financial Officer", "CFO")),
    ("engineering", ("Chief Technology Officer", "CTO")),
    ("operations", ("Chief Operating Officer", "COO")),
    ("marketing", ("Chief Marketing Officer", "CMO")),
    ("sales", ("Chief Revenue Officer", "Chief Sales Officer")),
    ("it", ("Chief Information Officer", "CIO")),
    ("hr", ("Chief People Officer", "Chief Human Resources Officer")),
    ("product", ("Chief Product Officer",)),
    ("data", ("Chief Data Officer",)),
    ("legal", ("General Counsel", "Chief Legal Officer")),
    ("customer_success", ("Chief Customer Officer",)),
)

_DEPARTMENT_WEIGHTS = {
    "sales": 22,
    "engineering": 20,
    "marketing": 10,
    "operations": 8,
    "customer_success": 8,
    "finance": 7,
    "it": 6,
    "product": 5,
    "hr": 5,
    "data": 4,
    "design": 3,
    "legal": 2,
    "procurement": 2,
    "executive": 1,
}
_SENIORITY_WEIGHTS = {
    "entry": 48,
    "senior": 22,
    "manager": 17,
    "director": 6,
    "head": 4,
    "vp": 3,
}

_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_DOMAIN_STOP_WORDS = frozenset({"and", "und", "et", "e", "y", "og", "och", "en", "the"})
_SURNAME_PARTICLES = frozenset(
    {"van", "von", "de", "der", "den", "del", "della", "di", "da", "du", "la", "le"}
)


def _email_word(name: str) -> str:
    return _NOT_ALNUM.sub("", ascii_fold(name))


def generate_demo_data(
    contacts: int,
    seed: int = 1,
    progress: Callable[[int, str], None] | None = None,
    *,
    now: datetime | None = None,
) -> DemoSummary:
    """Insert ``contacts`` demo contacts and about one company per 50 of them.

    Runs inside an app context and writes through ``db.engine`` on a connection
    of its own, committing companies first and then contacts in batches of
    ``BATCH_SIZE``; ``progress(percent, message)`` is called after each commit.
    ``db.session`` must hold no uncommitted writes (SQLite allows one writer).

    Guarantees: exactly ``contacts`` contacts; the same ``seed`` and ``now``
    write the same rows into an empty database (``now`` defaults to the start
    of the current UTC day, so reruns on one day match); every contact's email
    is unique, follows its company's pattern at its company's domain (always
    under the reserved ``.example`` TLD, so no demo address is real); phones are
    valid E.164 business lines of the company's country; domains never collide
    with domains already in the database, so another seed can be added.

    Raises ``DemoDataExists`` if this seed's companies are already loaded (also
    after an interrupted load: committed batches stay), ``ValueError`` for a
    count below one, ``NotImplementedError`` for a backend other than SQLite or
    PostgreSQL with psycopg.
    """
    if contacts < 1:
        raise ValueError("contacts must be at least 1")
    started = time.perf_counter()
    reference = now or datetime.now(UTC).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    if reference.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    now_ts = int(reference.timestamp())
    plan = _plan_companies(seed, contacts, now_ts)
    report = progress or (lambda percent, message: None)

    with db.engine.connect() as conn:
        writer = bulk_writer(conn)
        with conn.begin():
            _refuse_loaded_seed(conn, plan, seed)
            taken = _taken_domains(conn)
        _assign_domains(plan, taken)
        with conn.begin():
            writer.insert("companies", _COMPANY_COLUMNS, _company_rows(plan, writer))
        with conn.begin():
            ids = dict(conn.execute(select(Company.domain, Company.id)).all())
            for company in plan:
                company.id = ids[company.domain]
            aliases = [(c.id, c.alias) for c in plan if c.alias is not None]
            if aliases:
                writer.insert("company_domains", ("company_id", "domain"), aliases)
        report(0, f"Inserted {len(plan):,} companies")

        done = 0
        people = random.Random(f"{seed}:people")
        for batch in _contact_batches(people, plan, now_ts, writer):
            with conn.begin():
                writer.insert("contacts", _CONTACT_COLUMNS, batch)
            done += len(batch)
            report(
                done * 100 // contacts, f"Inserted {done:,} of {contacts:,} contacts"
            )
        with conn.begin():
            add_demo_revisions(conn, [company.id for company in plan])

    return DemoSummary(
        companies=len(plan),
        contacts=contacts,
        seconds=round(time.perf_counter() - started, 3),
    )


def _revision_fields_sql(dialect: str) -> str:
    """SQL for a contact's provenance fields as a JSON object, nulls left
    out (the fields a revision did not set)."""
    pairs = ", ".join(
        f"'{name}', {column}"
        for name, column in (
            ("first_name", "c.first_name"),
            ("last_name", "c.last_name"),
            ("title", "c.title"),
            ("company", "co.name"),
            ("email", "c.email"),
            ("phone", "c.phone"),
            ("city", "c.city"),
            ("country", "c.country"),
        )
    )
    if dialect == "postgresql":
        return f"json_strip_nulls(json_build_object({pairs}))"
    # json_patch drops members whose value is null (RFC 7396).
    return f"json_patch('{{}}', json_object({pairs}))"


def add_demo_revisions(conn: Connection, company_ids: Sequence[int]) -> int:
    """Give every contact of these companies that has no revision one that
    created it, with the source "demo data" and the contact's own date, so
    its page shows where each field came from. Returns how many."""
    # Only constant SQL is formatted in (the JSON expression for the
    # dialect); the company ids are bound.
    statement = text(
        "INSERT INTO contact_revisions (contact_id, kind, source, fields, "  # noqa: S608
        f"created_at) SELECT c.id, 'contribution', 'demo_data', "
        f"{_revision_fields_sql(conn.dialect.name)}, c.created_at "
        "FROM contacts c JOIN companies co ON co.id = c.company_id "
        "WHERE c.company_id IN :ids AND NOT EXISTS "
        "(SELECT 1 FROM contact_revisions r WHERE r.contact_id = c.id)"
    ).bindparams(bindparam("ids", expanding=True))
    added = 0
    for start in range(0, len(company_ids), 500):
        chunk = [int(i) for i in company_ids[start : start + 500]]
        added += conn.execute(statement, {"ids": chunk}).rowcount or 0
    return added


# One account per role, for trying the portal locally (``portal dev``).
DEMO_ACCOUNTS = (
    ("admin@tessera.example", "Ada Admin", "admin"),
    ("moderator@tessera.example", "Mo Moderator", "moderator"),
    ("orgadmin@tessera.example", "Olga Orgadmin", "org_admin"),
    ("member@tessera.example", "Max Member", "member"),
)


def create_demo_accounts(signup_grant: int) -> list[tuple[str, str, str]]:
    """Create the demo accounts that do not exist yet, with random passwords.

    Returns (email, role, password) rows for the accounts created; the org admin
    administers a new "Demo Organisation". Flushes; the caller commits.
    """
    created = []
    organisation = Organisation(name="Demo Organisation")
    db.session.add(organisation)
    for email, name, role in DEMO_ACCOUNTS:
        if find_member(email) is not None:
            continue
        password = secrets.token_urlsafe(12)
        member = register_member(
            email,
            password,
            name,
            role=Role(role),
            # Demo accounts are for trying things at once: no emailed link.
            verified_at=utcnow(),
            signup_grant=signup_grant,
        )
        if role == "org_admin":
            member.organisation = organisation
        created.append((email, role, password))
    db.session.flush()
    return created


# --- companies ---------------------------------------------------------------


@dataclass
class _Company:
    name: str
    normalised_name: str
    country: Country
    city: str
    area: str
    number_length: int
    industry: str
    created_ts: int
    # A label like "brightforge" and the variants tried when it is taken.
    domain_labels: tuple[str, ...]
    tld: str
    wants_alias: bool
    contacts: int = 0
    size_band: str = ""
    pattern: str = ""
    domain: str = ""
    alias: str | None = None
    id: int = 0
    # Direct dials: phone_block followed by extension_digits more digits.
    phone_block: str = ""
    extension_digits: int = 0


def _seeded_fakers(seed: int) -> dict[str, Faker]:
    fakers = {}
    for country in COUNTRIES:
        faker = Faker(country.locale)
        faker.seed_instance(seed)
        fakers[country.code] = faker
    return fakers


def _plan_companies(seed: int, contacts: int, now_ts: int) -> list[_Company]:
    """Companies with their contact counts, independent of the database.

    Who the companies are (name, industry, place) comes from a stream of its
    own, so a seed's first companies are the same whatever the contact count:
    they identify the seed's data. Only the domains (assigned later) depend on
    what is already loaded.
    """
    identity = random.Random(seed)
    fakers = _seeded_fakers(seed)
    count = max(1, round(contacts / CONTACTS_PER_COMPANY))
    seen_names: set[str] = set()
    plan = [
        _company_identity(identity, fakers, seen_names, now_ts) for _ in range(count)
    ]
    sizing = random.Random(f"{seed}:sizes")
    for company, size in zip(plan, _skewed_sizes(sizing, count, contacts), strict=True):
        company.contacts = size
        # Tessera knows a fraction of each company's staff.
        employees = size * sizing.uniform(1.5, 12)
        company.size_band = next(label for label, top in SIZE_BANDS if employees <= top)
        patterns = _LARGE_COMPANY_PATTERNS if size > 200 else _SMALL_COMPANY_PATTERNS
        company.pattern = sizing.choice(patterns)
    _allocate_phone_blocks(sizing, plan)
    return plan


def _company_identity(
    rng: random.Random, fakers: dict[str, Faker], seen_names: set[str], now_ts: int
) -> _Company:
    country = rng.choices(COUNTRIES, cum_weights=_COUNTRY_CUM)[0]
    industry = rng.choices(_INDUSTRY_NAMES, cum_weights=_INDUSTRY_CUM)[0]
    name = _company_name(rng, fakers[country.code], country, industry, seen_names)
    normalised = normalise_company_name(name)
    seen_names.add(normalised)
    # The first city is the country's business capital: a third of HQs.
    city, area, length = (
        country.cities[0] if rng.random() < 0.34 else rng.choice(country.cities)
    )
    return _Company(
        name=name,
        normalised_name=normalised,
        country=country,
        city=city,
        area=area,
        number_length=length,
        industry=industry,
        # Older than every contact's last confirmation (two years).
        created_ts=now_ts - _TWO_YEARS - rng.randrange(700 * _DAY),
        domain_labels=_domain_labels(rng, normalised),
        tld=country.tld if rng.random() < 0.85 else "com",
        wants_alias=rng.random() < 0.2,
    )


def _skewed_sizes(rng: random.Random, count: int, contacts: int) -> list[int]:
    """``count`` sizes of at least one summing to ``contacts``, Pareto-skewed."""
    weights = [rng.paretovariate(1.5) for _ in range(count)]
    total = sum(weights)
    spare = contacts - count
    shares = [spare * w / total for w in weights]
    sizes = [1 + int(share) for share in shares]
    # Hand out what flooring lost to the largest remainders, ties by position.
    by_remainder = sorted(
        range(count), key=lambda i: (shares[i] - int(shares[i]), -i), reverse=True
    )
    for i in by_remainder[: contacts - sum(sizes)]:
        sizes[i] += 1
    return sizes


def _company_name(
    rng: random.Random,
    faker: Faker,
    country: Country,
    industry: str,
    seen: set[str],
) -> str:
    """A name whose normalised form is not in ``seen``."""
    brand_words = INDUSTRIES[industry][1]
    real_names = _real_company_names(country.locale)
    for attempt in range(100):
        if rng.random() < 0.5 and attempt < 50:
            name = faker.company()
            if name in real_names:
                continue
            if country.code in {"GB", "IE"}:
                # Faker's en_GB and en_IE borrow American legal forms.
                name = re.sub(r" (Inc|LLC)$", " " + country.legal_suffixes[0], name)
        else:
            name = (
                f"{rng.choice(_BRAND_FIRST)}{rng.choice(_BRAND_SECOND)} "
                f"{rng.choice(brand_words)}"
            )
            if attempt >= 50:
                name = f"{name} {rng.choice(country.cities)[0]}"
            if rng.random() < 0.6:
                name = f"{name} {rng.choice(country.legal_suffixes)}"
        if normalise_company_name(name) not in seen:
            return name
    raise RuntimeError("could not find an unused company name")


@cache
def _real_company_names(locale: str) -> frozenset[str]:
    """Existing companies some Faker locales name; demo data must not use them."""
    try:
        provider = import_module(f"faker.providers.company.{locale}").Provider
    except ModuleNotFoundError:
        return frozenset()
    return frozenset(getattr(provider, "large_companies", ()))


def _domain_labels(rng: random.Random, normalised: str) -> tuple[str, ...]:
    """The DNS labels a company would try, preferred first, all non-empty."""
    words: list[str] = []
    particle = ""
    for word in normalised.split():
        if word in _DOMAIN_STOP_WORDS:
            continue
        # "van Vliet" is one surname: vanvliet, never van.
        if word in _SURNAME_PARTICLES:
            particle += word
            continue
        words.append(_email_word(particle + word))
        particle = ""
    words = [w for w in words if w] or [_email_word(particle) or "company"]
    joiner = "-" if rng.random() < 0.25 else ""
    if len(words) == 1:
        preferred = [words[0]]
    elif len(words[0]) >= 6 and rng.random() < 0.4:
        preferred = [words[0], joiner.join(words[:2])]
    else:
        preferred = [joiner.join(words[:2])]
    if len(words) >= 3:
        preferred.append("".join(w[0] for w in words))
    fallbacks = [f"{preferred[0]}-group", f"{preferred[0]}hq", "-".join(words)]
    labels = []
    for label in preferred + fallbacks:
        label = label[:63].strip("-")
        if label and label not in labels:
            labels.append(label)
    return tuple(labels)


# Demo domains end in the reserved ".example" TLD (RFC 2606): demo data can
# never reach a real company's mailboxes, and no notice is queued for them.
DEMO_SUFFIX = ".example"


def _assign_domains(plan: list[_Company], taken: set[str]) -> None:
    """Give each company the first free domain from its labels, then a number.

    Deterministic and draws no random numbers, so the rest of a seed's data
    does not depend on which domains were already taken.
    """
    for company in plan:
        candidates = (
            f"{label}.{company.tld}{DEMO_SUFFIX}" for label in company.domain_labels
        )
        domain = next((d for d in candidates if d not in taken), None)
        number = 2
        while domain is None:
            candidate = f"{company.domain_labels[0]}{number}.{company.tld}{DEMO_SUFFIX}"
            domain = None if candidate in taken else candidate
            number += 1
        company.domain = domain
        taken.add(domain)
        if company.wants_alias:
            other_tld = "com" if company.tld != "com" else company.country.tld
            base = domain.removesuffix(f".{company.tld}{DEMO_SUFFIX}")
            alias = f"{base}.{other_tld}{DEMO_SUFFIX}"
            if other_tld != company.tld and alias not in taken:
                company.alias = alias
                taken.add(alias)


def _refuse_loaded_seed(conn: Connection, plan: Sequence[_Company], seed: int) -> None:
    """Raise DemoDataExists if the seed's first companies are all present.

    Compares name, industry, city and country of up to three companies, which
    do not depend on the contact count: domains alone would clash with other
    seeds, which often draw the same common surnames.
    """
    probe = plan[:3]
    rows = conn.execute(
        select(Company.name, Company.industry, Company.city, Company.country).where(
            Company.normalised_name.in_([c.normalised_name for c in probe])
        )
    )
    present = {tuple(row) for row in rows}
    if all((c.name, c.industry, c.city, c.country.code) in present for c in probe):
        raise DemoDataExists(
            f"Demo data for seed {seed} is already loaded; use another --seed."
        )


def _taken_domains(conn: Connection) -> set[str]:
    """Domains a new company must not use: companies', aliases', and emails'."""
    if conn.dialect.name == "postgresql":
        email_domain = func.split_part(Contact.email, "@", 2)
    else:
        email_domain = func.substr(Contact.email, func.instr(Contact.email, "@") + 1)
    queries = (
        select(Company.domain),
        select(CompanyDomain.domain),
        select(email_domain).distinct(),
    )
    return {row[0].lower() for query in queries for row in conn.execute(query)}


_COMPANY_COLUMNS = (
    "name",
    "normalised_name",
    "domain",
    "industry",
    "size_band",
    "city",
    "country",
    "created_at",
)


def _company_rows(plan: Sequence[_Company], writer: BulkWriter) -> list[tuple]:
    return [
        (
            c.name,
            c.normalised_name,
            c.domain,
            c.industry,
            c.size_band,
            c.city,
            c.country.code,
            writer.timestamp(c.created_ts),
        )
        for c in plan
    ]


# --- contacts ----------------------------------------------------------------

_CONTACT_COLUMNS = (
    "first_name",
    "last_name",
    "title",
    "seniority",
    "department",
    "company_id",
    "email",
    "phone",
    "city",
    "country",
    "state",
    "last_confirmed_at",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class _NamePool:
    first_names: tuple[str, ...]
    first_cum: list[float] | None
    last_names: tuple[str, ...]
    last_cum: list[float] | None

    def draw(self, rng: random.Random, k: int) -> tuple[list[str], list[str]]:
        firsts = rng.choices(self.first_names, cum_weights=self.first_cum, k=k)
        lasts = rng.choices(self.last_names, cum_weights=self.last_cum, k=k)
        return firsts, lasts


@cache
def _name_pool(locale: str) -> _NamePool:
    """Names read once from Faker's locale provider (weighted where it is)."""
    provider = import_module(f"faker.providers.person.{locale}").Provider

    def weighted(names) -> tuple[tuple[str, ...], list[float] | None]:
        # Keep names that make an email address and need no COPY escaping.
        if isinstance(names, dict):
            items = [(n, w) for n, w in names.items() if _usable_name(n)]
            return tuple(n for n, _ in items), list(accumulate(w for _, w in items))
        return tuple(n for n in names if _usable_name(n)), None

    firsts, first_cum = weighted(provider.first_names)
    lasts, last_cum = weighted(provider.last_names)
    return _NamePool(firsts, first_cum, lasts, last_cum)


def _usable_name(name: str) -> bool:
    return bool(_email_word(name)) and not any(ch in name for ch in "\\\t\n\r")


@cache
def _title_table() -> tuple[tuple[str, ...], list[float], dict[str, tuple]]:
    """Non-C-suite titles with cumulative weights, and each title's class."""
    titles, weights = [], []
    for (department, seniority), names in TITLE_CATALOGUE.items():
        weight = _DEPARTMENT_WEIGHTS[department] * _SENIORITY_WEIGHTS[seniority]
        for name in names:
            titles.append(name)
            weights.append(weight / len(names))
    every_title = titles + [t for _, variants in C_SUITE for t in variants]
    classes = {title: classify_title(title) for title in every_title}
    return tuple(titles), list(accumulate(weights)), classes


def _c_suite_titles(rng: random.Random, company: _Company) -> list[str]:
    """The distinct C-suite titles a company of this size lists, CEO first."""
    wanted = min(
        company.contacts, len(C_SUITE), 1 + int(math.log2(1 + company.contacts / 10))
    )
    chief, *others = C_SUITE
    ceo_variants = chief[1] if company.contacts < 200 else chief[1][:2]
    roles = [rng.choice(ceo_variants)]
    for _, variants in rng.sample(others, wanted - 1):
        roles.append(rng.choice(variants))
    return roles


def _allocate_phone_blocks(rng: random.Random, plan: Sequence[_Company]) -> None:
    """Give every company its own block of direct dials, largest blocks first.

    Blocks leave room for twice the staff we know so extensions look scattered.
    Large blocks go first because small ones, once scattered over an area code,
    would leave no free prefix short enough for them.
    """
    blocks = _NumberBlocks()
    for company in sorted(plan, key=lambda c: -c.contacts):
        company.extension_digits = min(
            max(2, math.ceil(math.log10(2 * company.contacts))),
            company.number_length - len(company.area) - 1,
        )
        company.phone_block = blocks.allocate(rng, company, company.extension_digits)


class _NumberBlocks:
    """Hands each company its own block of direct-dial numbers.

    A block is an E.164 prefix; its numbers are the prefix plus ``digits``
    more. Blocks never overlap, so no two companies share a number.
    """

    def __init__(self) -> None:
        self._blocks: set[str] = set()
        # Every proper prefix of a block: a shorter new block there would overlap.
        self._under_blocks: set[str] = set()

    def allocate(self, rng: random.Random, company: _Company, digits: int) -> str:
        """A free block whose every completion is a valid business line.

        phonenumbers checks the company's switchboard and the lowest and highest
        completions: validity rules constrain leading digits, not trailing ones.
        Raises RuntimeError if the company's area code has no room left.
        """
        calling_code = phonenumbers.country_code_for_region(company.country.code)
        free = company.number_length - len(company.area)
        start = f"+{calling_code}{company.area}"
        for _ in range(1000):
            subscriber = f"{rng.randrange(2 * 10 ** (free - 1), 10**free)}"
            prefix = start + subscriber[:-digits]
            if prefix in self._under_blocks or any(
                prefix[:end] in self._blocks
                for end in range(len(start), len(prefix) + 1)
            ):
                continue
            completions = (subscriber[-digits:], "0" * digits, "9" * digits)
            if all(_is_business_line(prefix + tail) for tail in completions):
                self._blocks.add(prefix)
                self._under_blocks.update(
                    prefix[:end] for end in range(len(start), len(prefix))
                )
                return prefix
        raise RuntimeError(f"no free business numbers left in {company.city}")


def _is_business_line(e164: str) -> bool:
    number = phonenumbers.parse(e164)
    return (
        phonenumbers.is_valid_number(number)
        and phonenumbers.number_type(number) in BUSINESS_PHONE_TYPES
    )


# Cumulative odds of the rarer states; everybody else is active.
_STATE_ODDS = (0.005, 0.025, 0.035)
_STATES = ("held", "disputed", "graveyard", "active")


class _EmailWords(dict):
    """Names folded for email addresses, each computed once."""

    def __missing__(self, name: str) -> str:
        word = self[name] = _email_word(name)
        return word


def _contact_batches(
    rng: random.Random, plan: Sequence[_Company], now_ts: int, writer: BulkWriter
) -> Iterator[list[tuple]]:
    """Contact rows, company by company, in lists of about ``BATCH_SIZE``."""
    titles, title_cum, classes = _title_table()
    pools = {c.code: _name_pool(c.locale) for c in COUNTRIES}
    every_pool = list(pools.values())
    email_words = _EmailWords()
    timestamp = writer.timestamp
    batch: list[tuple] = []
    for company in plan:
        n = company.contacts
        pool = pools[company.country.code]
        firsts, lasts = pool.draw(rng, n)
        # Some colleagues come from abroad.
        for i in range(n):
            if rng.random() < 0.08:
                (firsts[i],), (lasts[i],) = rng.choice(every_pool).draw(rng, 1)
        c_suite = _c_suite_titles(rng, company)
        staff = rng.choices(titles, cum_weights=title_cum, k=n - len(c_suite))
        digits = company.extension_digits
        phone_prefix = company.phone_block
        # Only a company too big for its country's numbering plan reuses lines.
        extensions = cycle(rng.sample(range(10**digits), min(n, 10**digits)))
        make_local = EMAIL_PATTERNS[company.pattern]
        at_domain = "@" + company.domain
        used: set[str] = set()
        home_city, home_country = company.city, company.country.code
        cities = company.country.cities
        for i, title in enumerate(c_suite + staff):
            first, last = firsts[i], lasts[i]
            local = make_local(email_words[first], email_words[last])
            if local in used:
                suffix = 2
                while f"{local}{suffix}" in used:
                    suffix += 1
                local = f"{local}{suffix}"
            used.add(local)
            # About 70% of business contacts come with a direct line.
            phone = (
                f"{phone_prefix}{next(extensions):0{digits}d}"
                if rng.random() < 0.7
                else None
            )
            # Most people work at headquarters; some at a branch or abroad.
            where = rng.random()
            if where < 0.88:
                city, country = home_city, home_country
            elif where < 0.97:
                city, country = rng.choice(cities)[0], home_country
            else:
                abroad = rng.choice(COUNTRIES)
                city, country = rng.choice(abroad.cities)[0], abroad.code
            state = _STATES[bisect(_STATE_ODDS, rng.random())]
            # A few contacts were never confirmed after they were added.
            if rng.random() < 0.06:
                confirmed = None
                latest = now_ts - 7 * _DAY
            else:
                confirmed = latest = now_ts - rng.randrange(_TWO_YEARS)
            created = company.created_ts + rng.randrange(latest - company.created_ts)
            seniority, department = classes[title]
            batch.append(
                (
                    first,
                    last,
                    title,
                    seniority,
                    department,
                    company.id,
                    local + at_domain,
                    phone,
                    city,
                    country,
                    state,
                    None if confirmed is None else timestamp(confirmed),
                    timestamp(created),
                    timestamp(confirmed or created),
                )
            )
        if len(batch) >= BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch
