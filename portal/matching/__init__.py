"""One matcher for every question "is this person or company known?".

* :mod:`portal.matching.companies`: which company a name, domain or email
  points to (an in-process index per database).
* :mod:`portal.matching.people`: whether a typed name is one of a company's
  contacts (blocks of folded names, nicknames, initials, swapped names).
* :mod:`portal.matching.batch`: list rows matched in chunks with every signal
  they carry (email, phone, name and company), as ``portal match`` and the
  list service use it.

The duplicate check while a member contributes uses the first two.
"""

from portal.matching.companies import (
    COMPANY_FUZZY_MARGIN,
    COMPANY_FUZZY_THRESHOLD,
    SUGGESTION_THRESHOLD,
    CompanyMatch,
    CompanySuggestion,
    resolve_company,
    suggest_companies,
)
from portal.matching.people import (
    DUPLICATE_THRESHOLD,
    DuplicateCandidate,
    DuplicateCheck,
    find_duplicates,
)

__all__ = [
    "COMPANY_FUZZY_MARGIN",
    "COMPANY_FUZZY_THRESHOLD",
    "DUPLICATE_THRESHOLD",
    "SUGGESTION_THRESHOLD",
    "CompanyMatch",
    "CompanySuggestion",
    "DuplicateCandidate",
    "DuplicateCheck",
    "find_duplicates",
    "resolve_company",
    "suggest_companies",
]
