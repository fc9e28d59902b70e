"""Job titles map to a seniority and a department by the documented rules."""

from __future__ import annotations

import pytest

from portal.titles import DEPARTMENTS, SENIORITIES, classify_title

TABLE = [
    ("CFO", "c_level", "finance"),
    ("Chief Financial Officer", "c_level", "finance"),
    ("CEO", "c_level", "executive"),
    ("Chief Executive Officer", "c_level", "executive"),
    ("Founder & CEO", "c_level", "executive"),
    ("CTO & Co-Founder", "c_level", "engineering"),
    ("Chief Technology Officer", "c_level", "engineering"),
    ("Chief Operating Officer", "c_level", "operations"),
    ("Chief Revenue Officer", "c_level", "sales"),
    ("Chief Information Security Officer", "c_level", "it"),
    ("Chief People Officer", "c_level", "hr"),
    ("Chief Data Officer", "c_level", "data"),
    ("Chief Customer Officer", "c_level", "customer_success"),
    ("General Counsel", "c_level", "legal"),
    ("President", "c_level", "executive"),
    ("Managing Director", "c_level", "executive"),
    ("Owner", "c_level", "executive"),
    ("Chairman of the Board", "c_level", "executive"),
    ("VP of Sales", "vp", "sales"),
    ("Vice President, Sales", "vp", "sales"),
    ("Vice-President Marketing", "vp", "marketing"),
    ("SVP, Engineering", "vp", "engineering"),
    ("V.P. Marketing", "vp", "marketing"),
    ("Senior Vice President", "vp", "executive"),
    ("Director of Engineering", "director", "engineering"),
    ("Senior Director, Product Management", "director", "product"),
    ("Creative Director", "director", "design"),
    ("Chief of Staff", "director", "executive"),
    ("Head of Growth", "head", "marketing"),
    ("Head of People", "head", "hr"),
    ("Head of IT", "head", "it"),
    ("Engineering Manager", "manager", "engineering"),
    ("Product Marketing Manager", "manager", "marketing"),
    ("Customer Success Manager", "manager", "customer_success"),
    ("Key Account Manager", "manager", "sales"),
    ("Financial Controller", "manager", "finance"),
    ("Office Manager", "manager", "operations"),
    ("Category Manager", "manager", "procurement"),
    ("Senior Software Engineer", "senior", "engineering"),
    ("Sr. Software Eng.", "senior", "engineering"),
    ("Staff Software Engineer", "senior", "engineering"),
    ("Principal Data Scientist", "senior", "data"),
    ("Lead Designer", "senior", "design"),
    ("Account Executive", "entry", "sales"),
    ("Sales Engineer", "entry", "sales"),
    ("HR Business Partner", "entry", "hr"),
    ("Staff Accountant", "entry", "finance"),
    ("Accounts Payable Specialist", "entry", "finance"),
    ("Data Engineer", "entry", "data"),
    ("Product Designer", "entry", "design"),
    ("Product Owner", "entry", "product"),
    ("IT Support Specialist", "entry", "it"),
    ("Customer Support Engineer", "entry", "customer_success"),
    ("Data Protection Officer", "entry", "legal"),
    ("Junior Developer", "entry", "engineering"),
    ("Executive Assistant", "entry", "executive"),
    ("Buyer", "entry", "procurement"),
    ("Consultant", "entry", None),
    ("Team Lead", "senior", None),
    ("Project Manager", "manager", None),
    ("Ninja", None, None),
    ("", None, None),
    ("   ", None, None),
]


@pytest.mark.parametrize(("title", "seniority", "department"), TABLE)
def test_classify_title_table(title, seniority, department):
    """Each title in the table gets the documented seniority and department."""
    assert classify_title(title) == (seniority, department)


@pytest.mark.parametrize(
    ("variant", "canonical"),
    [
        ("  SENIOR software   ENGINEER ", "Senior Software Engineer"),
        ("vp, sales (emea)", "VP Sales"),
        ("Head of Sales / Partnerships", "Head of Sales"),
    ],
)
def test_case_and_punctuation_do_not_matter(variant, canonical):
    """Case, spacing and separators around words do not change the result."""
    assert classify_title(variant) == classify_title(canonical)


def test_results_stay_within_the_vocabulary():
    """Every answer is a known seniority and department, or None."""
    for title, _, _ in TABLE:
        seniority, department = classify_title(title.upper())
        assert seniority is None or seniority in SENIORITIES
        assert department is None or department in DEPARTMENTS
