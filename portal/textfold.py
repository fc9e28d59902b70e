"""Text folding and company legal forms: how names are compared everywhere.

One owner for what normalisation, matching, search and suppression compare:

* :func:`ascii_fold`: lower-case ASCII spelling ("Müller" -> "mueller"), what
  matching, suppression hashes and email-like comparisons use.
* :func:`fold`: the search index's folding, character for character the same
  as the database triggers' (migration ``0005_search_index`` keeps a frozen
  copy of :data:`FOLD_TABLE`; a test checks the two agree). It spells Latin
  accents as :func:`ascii_fold` does but keeps other scripts and turns
  punctuation into spaces.
* :data:`LEGAL_FORMS` and :func:`normalise_company_name`: company legal forms
  (Inc, GmbH, S.p.A., A/S, Sp. z o.o. ...) from ``cleanco``'s maintained
  list, plus the few it lacks (:data:`_NOT_IN_CLEANCO`).
* :func:`company_key`, :func:`company_full_name`, :func:`name_key`: the keys
  company and person matching compare.

Pure functions, tables built once at import.
"""

from __future__ import annotations

import re
import unicodedata

from cleanco.clean import prepare_default_terms

# --- ASCII folding ------------------------------------------------------------

# Letters with a conventional ASCII spelling of their own (the way email
# addresses spell them); other accents are simply dropped.
ASCII_SPELLINGS = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "æ": "ae",
        "ø": "oe",
        "å": "aa",
        "œ": "oe",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
    }
)


def ascii_fold(text: str) -> str:
    """Lower-case ``text`` and spell it in ASCII ("José" -> "jose").

    German, Scandinavian and ligature letters get their conventional ASCII
    spellings ("Müller" -> "mueller", "Søren" -> "soeren", "Weiß" -> "weiss");
    other accents are dropped; characters with no ASCII form disappear.
    """
    decomposed = unicodedata.normalize("NFKD", text.lower().translate(ASCII_SPELLINGS))
    return decomposed.encode("ascii", "ignore").decode("ascii")


# --- the search index's folding (frozen in migration 0005) ----------------------

_LETTER_GROUPS = {
    "a": "àáâãāăąǎÀÁÂÃĀĂĄǍ",
    "ae": "äæÄÆ",
    "aa": "åÅ",
    "c": "çćĉċčÇĆĈĊČ",
    "d": "ďđðĎĐÐ",
    "e": "èéêëēĕėęěÈÉÊËĒĔĖĘĚ",
    "g": "ĝğġģĜĞĠĢ",
    "h": "ĥħĤĦ",
    "i": "ìíîïĩīĭįıÌÍÎÏĨĪĬĮİ",
    "j": "ĵĴ",
    "k": "ķĶ",
    "l": "ĺļľŀłĹĻĽĿŁ",
    "n": "ñńņňÑŃŅŇ",
    "o": "òóôõōŏőÒÓÔÕŌŎŐ",
    "oe": "öøœÖØŒ",
    "r": "ŕŗřŔŖŘ",
    "s": "śŝşšșŚŜŞŠȘ",
    "ss": "ß",
    "t": "ţťŧțŢŤŦȚ",
    "th": "þÞ",
    "u": "ùúûũūŭůűųÙÚÛŨŪŬŮŰŲ",
    "ue": "üÜ",
    "w": "ŵŴ",
    "y": "ýÿŷÝŸŶ",
    "z": "źżžŹŻŽ",
}
_SEPARATORS = "-'’‘.,&/()\"_+:;!?@#|\\*[]{}<>=~`^%$–—·“”„´\t\n\r\xa0"


def _fold_table() -> dict[int, str]:
    table = {code: chr(code).lower() for code in range(ord("A"), ord("Z") + 1)}
    for replacement, letters in _LETTER_GROUPS.items():
        table.update({ord(letter): replacement for letter in letters})
    # Greek and Cyrillic capitals (SQLite's lower() knows ASCII only).
    for first, last in ((0x391, 0x3A9), (0x400, 0x42F)):
        table.update(
            {
                code: chr(code).lower()
                for code in range(first, last + 1)
                if chr(code).lower() != chr(code)
            }
        )
    table.update({ord(separator): " " for separator in _SEPARATORS})
    return table


FOLD_TABLE = _fold_table()


def fold(text: str) -> str:
    """``text`` as the search index stores it: "Jean-Luc Müller" -> "jean luc
    mueller".

    ASCII and Greek/Cyrillic capitals lower-cased, Latin accents spelled out
    the way :func:`ascii_fold` does ("ü" -> "ue"), punctuation turned into
    spaces. Other characters are kept as they are.
    """
    return text.translate(FOLD_TABLE)


# --- company legal forms ----------------------------------------------------------

# Dots, slashes and apostrophes sit inside legal forms ("S.r.l.", "A/S"): they
# are dropped so the form stays one word; every other punctuation mark
# separates words.
_ABBREVIATION_MARKS = re.compile(r"[./'’]")
_PUNCTUATION = re.compile(r"[^\w\s]|_")
_NOT_WORD = re.compile(r"[\W_]+")

# Legal forms that cleanco's list lacks and company names here carry: Irish
# designated activity companies, German UG and (g)mbH, Australian Pty without
# Ltd, German foundations, and Spanish single-member and agrarian forms.
_NOT_IN_CLEANCO = (
    "dac", "ug", "mbh", "pty", "stiftung", "slu", "sau", "sat", "scp", "scom",
)  # fmt: skip


# Words cleanco lists as legal forms that end real names here more often:
# the Dutch surname Vos (a Czech form in cleanco).
_NAME_WORDS = frozenset({("vos",)})
# A legal form after one of these is part of the name ("Smith and Company").
_JOINING_WORDS = frozenset({"and", "y", "e", "et", "und", "en", "och"})


def _company_words(name: str) -> list[str]:
    """Lower case, "&" read as "and", abbreviation marks dropped, split on
    whitespace and punctuation."""
    lowered = _ABBREVIATION_MARKS.sub("", name.lower().replace("&", " and "))
    return _PUNCTUATION.sub(" ", lowered).split()


def _legal_form_terms() -> frozenset[tuple[str, ...]]:
    terms = {
        tuple(_company_words(" ".join(parts))) for _, parts in prepare_default_terms()
    }
    terms |= {(form,) for form in _NOT_IN_CLEANCO}
    return frozenset(term for term in terms if term and term not in _NAME_WORDS)


_LEGAL_FORM_TERMS = _legal_form_terms()
_LONGEST_TERM = max(len(term) for term in _LEGAL_FORM_TERMS)
# Legal forms of one word ("gmbh", "inc", "as" for A/S, "spa" for S.p.A.):
# search counts a typed one in the ranking but never requires it.
LEGAL_FORMS = frozenset(term[0] for term in _LEGAL_FORM_TERMS if len(term) == 1)


def strip_legal_forms(words: list[str]) -> list[str]:
    """``words`` without the legal forms at their end, as many as there are
    ("s l", "gmbh and co kg", "pte ltd"), longest first.

    The first word always stays, and so does a form whose removal would leave
    the name ending in a joining word ("Hofman & Vos", "Martinez y Company").
    """
    end = len(words)
    while end > 1:
        for size in range(min(_LONGEST_TERM, end - 1), 0, -1):
            term = tuple(words[end - size : end])
            if (
                term in _LEGAL_FORM_TERMS
                and words[end - size - 1] not in _JOINING_WORDS
            ):
                end -= size
                break
        else:
            break
    return words[:end]


def normalise_company_name(name: str) -> str:
    """The form company matching compares: "Müller GmbH & Co. KG" -> "müller".

    Lower case, "&" read as "and", legal forms (cleanco's list: Inc, LLC, Ltd,
    plc, GmbH, AG, S.A., B.V., A/S, Sp. z o.o., ...) removed from the end,
    punctuation removed, whitespace collapsed. A name that is nothing but a
    legal form keeps it. Accents stay.
    """
    return " ".join(strip_legal_forms(_company_words(name)))


def company_key(name: str) -> str:
    """What company names are compared as: normalised, ASCII-folded, words
    separated by single spaces ("Müller GmbH" -> "mueller")."""
    folded = ascii_fold(normalise_company_name(name))
    return " ".join(_NOT_WORD.sub(" ", folded).split())


def company_full_name(name: str) -> str:
    """The whole name, legal form included, folded: "Acme S.p.A." -> "acme spa".

    Fuzzy matching compares these too, so that a typo in the legal form
    (which stops it from being recognised and removed) costs one edit only.
    """
    folded = ascii_fold(_ABBREVIATION_MARKS.sub("", name))
    return " ".join(_NOT_WORD.sub(" ", folded).split())


def name_key(name: str) -> str:
    """A person's name as compared: "Jean-Luc " -> "jean luc", "Müller" ->
    "mueller"."""
    # Most names are plain letters, which need no folding.
    if name.isalpha() and name.isascii():
        return name.lower()
    return " ".join(_NOT_WORD.sub(" ", ascii_fold(name)).split())
