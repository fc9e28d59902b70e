"""Text folding and company legal forms: the one module every comparison uses."""

from __future__ import annotations

import pytest

from portal.search.services import SearchQuery, search_contacts
from portal.textfold import (
    LEGAL_FORMS,
    ascii_fold,
    company_full_name,
    company_key,
    name_key,
    normalise_company_name,
)


@pytest.mark.parametrize(
    ("name", "normalised"),
    [
        ("Müller GmbH & Co. KG", "müller"),
        ("Acme, Inc.", "acme"),
        ("Smith & Jones LLP", "smith and jones"),
        ("Bacosi-Pellico s.r.l.", "bacosi pellico"),
        ("Toft A/S", "toft"),
        ("Rose and Sons", "rose and sons"),
        ("  Blue   Wave  Ltd ", "blue wave"),
        ("AG", "ag"),
        # Forms only cleanco's maintained list knows.
        ("Nowak Sp. z o.o.", "nowak"),
        ("Lim Holdings Pte. Ltd.", "lim holdings"),
        ("Grupo Bimbo S.A. de C.V.", "grupo bimbo"),
        ("Petrov OOO", "petrov"),
        # Forms cleanco lacks, kept from before.
        ("Kerry Foods DAC", "kerry foods"),
        ("Klein UG", "klein"),
        # A form right after a joining word is part of the name.
        ("Hofman & Vos", "hofman and vos"),
        ("Martinez y Company", "martinez y company"),
        ("Smith & Co.", "smith"),
    ],
)
def test_normalise_company_name(name, normalised):
    """Legal forms (cleanco's list) and punctuation go, case and spacing are
    evened out, and a name is never left ending in a joining word."""
    assert normalise_company_name(name) == normalised


@pytest.mark.parametrize(
    ("text", "folded"),
    [("José", "jose"), ("Müller", "mueller"), ("Søren", "soeren"), ("Weiß", "weiss")],
)
def test_ascii_fold(text, folded):
    """Names are spelt in lower-case ASCII the way email addresses spell them."""
    assert ascii_fold(text) == folded


def test_company_keys_fold_accents_and_keep_the_full_name():
    """Matching compares folded names without forms, and folded full names."""
    assert company_key("Müller-Lüdenscheidt GmbH") == "mueller luedenscheidt"
    assert company_full_name("Acme S.p.A.") == "acme spa"
    assert name_key(" Jean-Luc ") == "jean luc"
    assert name_key("Müller") == "mueller"


def test_search_and_matching_share_the_legal_forms():
    """Search's optional words are the forms normalisation strips."""
    for form in ("gmbh", "inc", "spa", "as", "llc", "dac", "ooo"):
        assert form in LEGAL_FORMS
        assert normalise_company_name(f"Acme {form}") == "acme"
    assert "group" not in LEGAL_FORMS


def test_a_typed_cleanco_form_is_optional_in_search(db, make_company, make_contact):
    """ "Nowak Ltda" finds Nowak's staff even though another company is called
    Ltda: a legal form counts in the ranking but is never required."""
    nowak = make_company(name="Zbyszko Nowak")
    make_contact(company=nowak, first_name="Ilona", last_name="Wrzesniewska")
    make_contact(company=make_company(name="Ltda Partners"), last_name="Kowalczyk")
    results = search_contacts(db.session, SearchQuery(text="Wrzesniewska Nowak Ltda "))
    assert [hit.last_name for hit in results.hits] == ["Wrzesniewska"]
    assert not results.relaxed
