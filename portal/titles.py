"""Job titles -> (seniority, department), by keyword rules.

Contributors type titles freely ("VP, Sales EMEA", "Sr. Software Eng."); search
and list matching filter on the two derived fields instead. The rules are
ordered keyword patterns over the lower-cased title, compiled once at import.

Seniority, the first rule that matches wins:

1. ``c_level``: "chief ..." (except "chief of staff"), the C-suite abbreviations
   (CEO, CFO, CTO, COO, CMO, CRO, CIO, CDO, CPO, CHRO, CISO, ...), president (not
   vice president), founder, a title starting with owner ("Owner", "Co-Owner";
   not "Product Owner"), managing director, managing partner, executive
   director, general counsel, chair.
2. ``vp``: vice president, VP, SVP, EVP, AVP.
3. ``director``: director (so "Senior Director" and "Associate Director" are
   directors), and "chief of staff".
4. ``head``: "head of ...", "... head".
5. ``manager``: manager, mgr, supervisor, team leader, controller.
6. ``senior``: senior, sr, principal, lead (a tech or team lead is a senior
   individual contributor), staff engineer/scientist/designer/developer.
7. ``entry``: a title with none of the words above that is still recognisably a
   job: it names a department, or an individual-contributor noun (engineer,
   analyst, specialist, representative, associate, assistant, intern, ...).
   "Account Executive" and "Junior Accountant" are both ``entry``.
8. ``None``: anything else (empty, or no recognisable role word).

Department, also first match wins, specific functions before broad ones so that
"Product Marketing Manager" is marketing, "Sales Engineer" is sales, "Data
Engineer" is data, "Product Designer" is design, "IT Support Specialist" is it
and "Customer Support Engineer" is customer_success. Executive words (CEO,
president, founder, ...) are checked last, so "Vice President, Sales" is sales
and a bare "Vice President" or "Chief Executive Officer" is executive.
``None`` when no rule matches.

Only English titles are recognised.
"""

from __future__ import annotations

import re
from functools import lru_cache

SENIORITIES = ("c_level", "vp", "director", "head", "manager", "senior", "entry")
DEPARTMENTS = (
    "executive",
    "sales",
    "marketing",
    "engineering",
    "product",
    "finance",
    "hr",
    "operations",
    "it",
    "legal",
    "customer_success",
    "data",
    "design",
    "procurement",
)

# How each value reads on a page: the one place for these labels.
UNRECOGNISED = "none"
SENIORITY_LABELS = {
    "c_level": "C-level",
    "vp": "VP",
    "director": "Director",
    "head": "Head",
    "manager": "Manager",
    "senior": "Senior",
    "entry": "Entry level",
}
DEPARTMENT_LABELS = {
    **{value: value.replace("_", " ").capitalize() for value in DEPARTMENTS},
    "hr": "HR",
    "it": "IT",
}


def seniority_label(value: str | None) -> str:
    """ "C-level", "VP", ...; "Not recognised" for None or "none"."""
    return _label(SENIORITY_LABELS, value)


def department_label(value: str | None) -> str:
    """ "HR", "IT", "Customer success", ...; "Not recognised" for None."""
    return _label(DEPARTMENT_LABELS, value)


def _label(labels: dict[str, str], value: str | None) -> str:
    if not value or value == UNRECOGNISED:
        return "Not recognised"
    return labels.get(value) or value.replace("_", " ").capitalize()


# The C-suite abbreviations: CEO, CFO, CTO, COO, CMO, CRO, CIO, CDO, CPO, CHRO,
# CISO, CLO, CXO, CAO, CSO, CCO.
_C_SUITE = r"\bc(?:e|f|t|o|m|r|i|d|p|hr|is|l|x|a|s|c)o\b"


def _rules(pairs: list[tuple[str, str]]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((label, re.compile(pattern)) for label, pattern in pairs)


_SENIORITY_RULES = _rules(
    [
        (
            "c_level",
            r"\bchief\b(?! of staff)"
            rf"|{_C_SUITE}"
            r"|(?<!vice )(?<!vice-)\bpresident\b"
            r"|\b(?:co-?)?founder\b"
            r"|^(?:co-?)?owner\b"
            r"|\bmanaging (?:director|partner)\b"
            r"|\bexecutive director\b"
            r"|\bgeneral counsel\b"
            r"|\bchair(?:man|woman|person)?\b",
        ),
        ("vp", r"\b(?:vice[ -]president|v\.?p|svp|evp|avp)\b"),
        ("director", r"\bdirector\b|\bdir\b|\bchief of staff\b"),
        ("head", r"\bhead\b"),
        (
            "manager",
            r"\bmanager\b|\bmgr\b|\bsupervisor\b|\bteam leader\b|\bcontroller\b",
        ),
        (
            "senior",
            r"\bsenior\b|\bsr\b|\bprincipal\b|\blead\b"
            r"|\bstaff (?:[a-z]+ )?(?:engineer|scientist|designer|developer)\b",
        ),
    ]
)

_DEPARTMENT_RULES = _rules(
    [
        # C-suite abbreviations carry their function; ambiguous ones (CSO, CCO)
        # fall through to the executive rule at the end.
        ("finance", r"\bcfo\b"),
        ("engineering", r"\bcto\b"),
        ("operations", r"\bcoo\b"),
        ("marketing", r"\bcmo\b"),
        ("sales", r"\bcro\b"),
        ("it", r"\bcis?o\b"),
        ("data", r"\bcdo\b"),
        ("product", r"\bcpo\b"),
        ("hr", r"\bchro\b"),
        ("legal", r"\bclo\b"),
        (
            "legal",
            r"\blegal\b|\bcounsel\b|\bparalegal\b|\battorney\b|\blawyer\b"
            r"|\bcompliance\b|\bdata protection\b|\bprivacy officer\b|\bsolicitor\b",
        ),
        (
            "it",
            r"\bit\b|\binformation (?:technology|security|officer)\b|\bcyber"
            r"|\bsecurity analyst\b|\bsystems? administrator\b|\bsysadmin\b"
            r"|\bnetwork\b|\bhelp ?desk\b|\bservice desk\b|\binfrastructure\b",
        ),
        (
            "customer_success",
            r"\bcustomer\b|\bclient (?:services?|success)\b|\bsupport\b"
            r"|\bimplementation\b|\bonboarding\b",
        ),
        (
            "data",
            r"\bdata\b|\bbusiness intelligence\b|\bbi\b|\bmachine learning\b"
            r"|\bml\b|\banalytics engineer\b",
        ),
        (
            "design",
            r"\bdesign(?:er)?\b|\bux\b|\bui\b|\buser (?:experience|research(?:er)?)\b"
            r"|\b(?:creative|art) director\b|\billustrator\b",
        ),
        (
            "procurement",
            r"\bprocurement\b|\bpurchasing\b|\bbuyer\b|\bsourcing\b"
            r"|\bcategory manager\b|\bvendor management\b",
        ),
        (
            "hr",
            r"\bhr\b|\bhrbp\b|\bhuman resources\b|\bpeople\b|\btalent\b|\brecruit"
            r"|\bpayroll\b|\bcompensation\b|\bbenefits\b|\blearning and development\b",
        ),
        (
            "finance",
            r"\bfinanc|\baccountant\b|\baccounting\b"
            r"|\baccounts (?:payable|receivable)\b|\bcontroller\b|\bcomptroller\b"
            r"|\btreasur|\btax\b|\baudit|\bfp&a\b"
            r"|\bbookkeep|\bbilling\b|\binvestor relations\b",
        ),
        (
            "sales",
            r"\bsales\b|\baccount\b|\bbusiness development\b|\bbdr\b|\bsdr\b"
            r"|\brevenue\b|\bpartnerships?\b|\bchannel\b|\bcommercial\b",
        ),
        (
            "marketing",
            r"\bmarketing\b|\bmarketer\b|\bgrowth\b|\bbrand\b|\bcontent\b|\bseo\b"
            r"|\bsem\b|\bcommunications\b|\bpublic relations\b|\bpr\b|\bdemand gen"
            r"|\bsocial media\b|\bcampaigns?\b|\bevents?\b|\bcopywriter\b",
        ),
        ("product", r"\bproduct\b"),
        (
            "engineering",
            r"\bengineer|\beng\b|\bdev(?:eloper)?s?\b|\bswe\b|\bsoftware\b"
            r"|\bdevops\b|\bsre\b"
            r"|\bsite reliability\b|\bprogrammer\b|\barchitect\b|\bqa\b"
            r"|\bquality assurance\b|\btest(?:er|ing)?\b|\bfront-?end\b"
            r"|\bback-?end\b|\bfull[- ]?stack\b|\btechnology\b|\btechnical\b",
        ),
        (
            "operations",
            r"\boperations\b|\boperating\b|\bops\b|\blogistics\b|\bsupply chain\b"
            r"|\bfacilities\b|\boffice manager\b|\bwarehouse\b|\bfulfil",
        ),
        (
            "executive",
            rf"\bchief\b|{_C_SUITE}|\bpresident\b|\bfounder\b|\bowner\b"
            r"|\bmanaging (?:director|partner)\b|\bexecutive director\b"
            r"|\bgeneral manager\b|\bchief of staff\b|\bexecutive assistant\b"
            r"|\bchair(?:man|woman|person)?\b",
        ),
    ]
)

# Words that make a title a job even when it names no department or level.
_INDIVIDUAL_CONTRIBUTOR = re.compile(
    r"\b(?:engineer|developer|analyst|specialist|representative|rep|associate"
    r"|assistant|coordinator|consultant|officer|agent|administrator|executive"
    r"|clerk|technician|recruiter|buyer|intern|trainee|junior|jr|graduate"
    r"|apprentice|advisor|adviser|scientist|designer|accountant|partner"
    r"|strategist|writer|researcher|planner|generalist|architect)\b"
)

_SEPARATORS = re.compile(r"[\s,;:/|()]+")


@lru_cache(maxsize=8192)
def classify_title(title: str) -> tuple[str | None, str | None]:
    """Return ``(seniority, department)`` for a free-text job title.

    Guarantees: the seniority is one of :data:`SENIORITIES` or ``None``, the
    department one of :data:`DEPARTMENTS` or ``None``; the result depends on the
    title only (case and punctuation around words do not matter). Never raises
    for a string.
    """
    text = _SEPARATORS.sub(" ", title.lower()).strip()
    if not text:
        return None, None
    department = next(
        (label for label, pattern in _DEPARTMENT_RULES if pattern.search(text)), None
    )
    seniority = next(
        (label for label, pattern in _SENIORITY_RULES if pattern.search(text)), None
    )
    if seniority is None and (
        department is not None or _INDIVIDUAL_CONTRIBUTOR.search(text)
    ):
        seniority = "entry"
    return seniority, department
