"""Contributing contacts: the checks at entry, duplicates, updates,
confirmations and challenges, each leaving a revision or a flag behind.

One function, ``contribute``, serves the form, the CSV job and (through
``clean_contact``) the operator import, so every path applies the same checks.
Services flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import matching
from portal.contactfields import CONTACT_FIELDS
from portal.contacts import lookups
from portal.models import (
    Company,
    CompanyDomain,
    ConfirmationSource,
    Contact,
    ContactConfirmation,
    ContactState,
    Flag,
    FlagKind,
    FlagSource,
    LookupChannel,
    Revision,
    RevisionKind,
    RevisionSource,
)
from portal.moderation.flags import FlagRules, open_flag
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
from portal.points import services as points
from portal.privacy.notices import queue_notice
from portal.suppression import SUPPRESSED_MESSAGE, is_suppressed
from portal.textfold import normalise_company_name
from portal.titles import classify_title

ATTESTATION_TEXT = (
    "I may share this business contact with Tessera's members, I got it in the "
    "course of business, and it holds no personal data: no personal email, no "
    "mobile number, no home address."
)
# Fields whose change makes an update worth points (a new city or a respelt
# name is not); a new title counts when it changes seniority or department.
MATERIAL_FIELDS = frozenset({"email", "phone", "company"})
# Fields shown with their provenance, in the order a contact is read.
PROVENANCE_FIELDS = tuple(f for f in CONTACT_FIELDS if f != "company_domain")
GENERAL = ""  # the key of a problem that belongs to no single field


class ContributionRefused(Exception):
    """Nothing was written; ``problems`` maps a field (or ``GENERAL``) to why."""

    def __init__(self, problems: Mapping[str, str]):
        super().__init__(
            "; ".join(f"{k or 'contact'}: {v}" for k, v in problems.items())
        )
        self.problems = dict(problems)

    @property
    def reason(self) -> str:
        """All problems as one sentence list, for a CSV report row."""
        return " ".join(self.problems.values())


class ContactActionRefused(Exception):
    """A confirmation or challenge that is not allowed; ``message`` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CleanContact:
    first_name: str
    last_name: str
    title: str
    seniority: str | None
    department: str | None
    company: str
    company_domain: str | None
    email: str
    phone: str | None
    city: str | None
    country: str | None

    @property
    def email_domain(self) -> str:
        return email_domain(self.email)


def _check(problems: dict[str, str], name: str, check, raw: str, *args, **kwargs):
    try:
        return check(raw, *args, **kwargs)
    except FieldProblem as problem:
        problems[name] = problem.message
        return None


def clean_contact(values: Mapping[str, str | None]) -> CleanContact:
    """Normalise every field of a submitted contact.

    Raises ``ContributionRefused`` with one message per field that fails
    (required, business email only, not a mobile, names that are names, ...).
    """
    raw = {name: (values.get(name) or "").strip() for name in PROVENANCE_FIELDS}
    raw["company_domain"] = (values.get("company_domain") or "").strip()
    problems: dict[str, str] = {}
    first = _check(
        problems,
        "first_name",
        normalise_person_name,
        raw["first_name"],
        part="first name",
    )
    last = _check(
        problems, "last_name", normalise_person_name, raw["last_name"], part="last name"
    )
    title = _check(problems, "title", normalise_title, raw["title"])
    country = None
    if raw["country"]:
        country = _check(problems, "country", normalise_country, raw["country"])
    email = None
    if not raw["email"]:
        problems["email"] = "Enter the person's business email address."
    else:
        email = _check(problems, "email", normalise_business_email, raw["email"])
        if email is not None:
            _check(problems, "email", check_business_email, email)
    company = None
    domain = None
    if not raw["company"] and not raw["company_domain"]:
        problems["company"] = "Enter the company name or its website domain."
    if raw["company"]:
        company = _check(
            problems, "company", normalise_company_display_name, raw["company"]
        )
    if raw["company_domain"]:
        domain = _check(
            problems, "company_domain", normalise_domain, raw["company_domain"]
        )
    phone = None
    if raw["phone"]:
        phone = _check(problems, "phone", normalise_phone, raw["phone"], country)
    city = (
        _check(problems, "city", normalise_city, raw["city"]) if raw["city"] else None
    )
    if problems:
        raise ContributionRefused(problems)
    seniority, department = classify_title(title)
    return CleanContact(
        first_name=first,
        last_name=last,
        title=title,
        seniority=seniority,
        department=department,
        company=company or "",
        company_domain=domain,
        email=email,
        phone=phone,
        city=city,
        country=country,
    )


@dataclass
class Outcome:
    """What a contribution did. ``status``:

    * ``accepted``: a new active contact, points pending;
    * ``held``: a new or updated contact held for a moderator (domain mismatch);
    * ``updated``: the details went onto an existing contact;
    * ``unchanged``: already known with these details (offer to confirm it);
    * ``needs_decision``: likely duplicates; nothing written until the member
      says "same person" or "different person";
    * ``proposed``: a change that would hold or hide a known contact, or an
      email already on file under other details: sent to a moderator as a
      proposal; the contact is unchanged and ``contact`` is None unless the
      member was updating that very contact.
    """

    status: Literal[
        "accepted", "held", "updated", "unchanged", "needs_decision", "proposed"
    ]
    contact: Contact | None = None
    revision: Revision | None = None
    points: int = 0
    candidates: list[matching.DuplicateCandidate] = field(default_factory=list)
    duplicate_flagged: bool = False
    # For a proposal: the contact it is about (not shown when ``contact`` is None).
    flag_contact_id: int | None = None


# The member's answer to "is this the same person?": ("update", contact id),
# ("different", None), or None before they were asked.
Decision = tuple[Literal["update", "different"], int | None] | None


def contribute(
    session: Session,
    member_id: int | None,
    values: Mapping[str, str | None],
    *,
    source: RevisionSource,
    attestation: str | None,
    rules: points.Rules,
    suppression_key: str,
    now: datetime,
    decision: Decision = None,
    contribution_file_id: int | None = None,
    flag_rules: FlagRules | None = None,
    ip_hash: str | None = None,
) -> Outcome:
    """Add a contact, or apply it to the contact it duplicates.

    A member's submission first passes the day's allowance (contributions and
    answers about known contacts, ``portal.contacts.lookups``); every answer
    that says a person or email is known is counted. An email already on file
    is treated as that contact only when the name and company supplied are
    that contact's too; otherwise the submission goes to a moderator as a
    proposal, and the answer names nobody.

    Raises ``ContributionRefused`` (nothing written) for a failed check, a
    suppressed person, a missing attestation or a used-up allowance.
    """
    clean, company = _checked(session, member_id, values, attestation, suppression_key)
    context = _Context(
        session,
        member_id,
        source,
        attestation,
        rules,
        now,
        contribution_file_id,
        flag_rules or FlagRules(),
        ip_hash=ip_hash,
    )
    context.check_allowance()
    check = matching.find_duplicates(
        session,
        first_name=clean.first_name,
        last_name=clean.last_name,
        company_id=company.id if company else None,
        company_name=clean.company or None,
    )
    candidates = check.candidates
    same_email = session.scalar(select(Contact).where(Contact.email == clean.email))
    if same_email is not None:
        if same_email.id in {c.contact_id for c in candidates}:
            return context.answered(context.update(same_email, clean, company))
        return context.answered(
            context.propose(
                same_email,
                _proposed_values(clean),
                "A member submitted this contact's email with another name or "
                f"company: {clean.first_name} {clean.last_name} at "
                f"{clean.company or clean.company_domain}.",
                show_contact=False,
            )
        )
    if candidates and decision is None:
        return context.answered(Outcome("needs_decision", candidates=candidates))
    if decision is not None and decision[0] == "update":
        chosen = {c.contact_id for c in candidates}
        target = session.get(Contact, decision[1]) if decision[1] in chosen else None
        if target is None:
            raise ContributionRefused(
                {
                    GENERAL: (
                        "That contact is no longer a likely match. Check the "
                        "details and submit again."
                    )
                }
            )
        # The names only matched fuzzily: keep the record's spelling rather
        # than the (probably typo'd) one just typed.
        return context.answered(context.update(target, clean, company, keep_names=True))
    outcome = context.create(clean, company)
    if candidates:
        context.open_flag(
            FlagKind.POSSIBLE_DUPLICATE,
            FlagSource.ENTRY,
            contact=outcome.contact,
            revision=outcome.revision,
            related_contact_id=candidates[0].contact_id,
            details=(
                f"Contributor says this is not the same person as contact "
                f"#{candidates[0].contact_id} (match score {candidates[0].score:.0f})."
            ),
        )
        outcome.duplicate_flagged = True
    return outcome


def _proposed_values(clean: CleanContact) -> dict[str, Any]:
    return _present({name: getattr(clean, name) for name in PROVENANCE_FIELDS})


def _checked(
    session: Session,
    member_id: int | None,
    values: Mapping[str, str | None],
    attestation: str | None,
    suppression_key: str,
) -> tuple[CleanContact, Company | None]:
    """The checks every contribution passes before anything is written: the
    attestation, each field, and the suppression list. Returns the cleaned
    values and the known company they name (None: a new company)."""
    # Every problem at once: the fields' and the attestation's.
    problems: dict[str, str] = {}
    if member_id is not None and not attestation:
        problems["attestation"] = "Tick the box to confirm you may share this contact."
    try:
        clean = clean_contact(values)
    except ContributionRefused as refused:
        raise ContributionRefused({**refused.problems, **problems}) from None
    if problems:
        raise ContributionRefused(problems)
    match = matching.resolve_company(
        session,
        name=clean.company or None,
        domain=clean.company_domain,
        email_domain=clean.email_domain,
    )
    company = session.get(Company, match.company_id) if match else None
    suppression_domains = {clean.email_domain, clean.company_domain}
    if company is not None:
        suppression_domains.add(company.domain)
    if is_suppressed(
        session,
        suppression_key,
        email=clean.email,
        first_name=clean.first_name,
        last_name=clean.last_name,
        domains=tuple(sorted(d for d in suppression_domains if d)),
    ):
        raise ContributionRefused({GENERAL: SUPPRESSED_MESSAGE})
    return clean, company


def update_contact(
    session: Session,
    contact: Contact,
    member_id: int,
    values: Mapping[str, str | None],
    *,
    attestation: str | None,
    rules: points.Rules,
    suppression_key: str,
    now: datetime,
    flag_rules: FlagRules | None = None,
    ip_hash: str | None = None,
) -> Outcome:
    """Apply a member's edit of one contact (the update form): the same checks
    and allowance as a contribution; blank optional fields keep their values.
    A change that would hold the contact, or an email that is another
    contact's, becomes a proposal for a moderator. Raises
    ``ContributionRefused``."""
    values = {**values, "email": values.get("email") or contact.email}
    clean, company = _checked(session, member_id, values, attestation, suppression_key)
    context = _Context(
        session,
        member_id,
        RevisionSource.FORM,
        attestation,
        rules,
        now,
        None,
        flag_rules or FlagRules(),
        LookupChannel.UPDATE,
        ip_hash=ip_hash,
    )
    context.check_allowance()
    outcome = context.update(contact, clean, company)
    if outcome.status in ("unchanged", "proposed"):
        context.answered(outcome)
    return outcome


@dataclass
class _Context:
    session: Session
    member_id: int | None
    source: RevisionSource
    attestation: str | None
    rules: points.Rules
    now: datetime
    contribution_file_id: int | None
    flag_rules: FlagRules
    channel: LookupChannel | None = None
    ip_hash: str | None = None

    def __post_init__(self) -> None:
        if self.channel is None:
            csv = self.source == RevisionSource.CSV
            self.channel = LookupChannel.CSV if csv else LookupChannel.FORM

    def check_allowance(self) -> None:
        if self.member_id is None:
            return
        try:
            lookups.check_allowance(self.session, self.member_id, self.rules, self.now)
        except lookups.AnswerLimitReached as reached:
            raise ContributionRefused({GENERAL: reached.message}) from reached

    def answered(self, outcome: Outcome) -> Outcome:
        """Count an outcome that says a person or email is known."""
        if self.member_id is not None:
            contact = outcome.contact
            if contact is None and outcome.candidates:
                contact_id = outcome.candidates[0].contact_id
            else:
                contact_id = outcome.flag_contact_id or (contact and contact.id)
            lookups.record_answer(
                self.session,
                self.member_id,
                contact_id,
                self.channel,
                self.now,
                revision_id=outcome.revision.id if outcome.revision else None,
            )
        return outcome

    def propose(
        self,
        contact: Contact,
        proposal: dict[str, Any],
        details: str,
        *,
        show_contact: bool,
    ) -> Outcome:
        """Send a change to a moderator as a flag carrying the proposed values;
        the contact stays as it is."""
        self.open_flag(
            FlagKind.PROPOSED_CHANGE,
            FlagSource.MEMBER,
            contact=contact,
            revision=None,
            details=details,
            proposal=proposal,
        )
        return Outcome(
            "proposed",
            contact if show_contact else None,
            flag_contact_id=contact.id,
        )

    def open_flag(
        self,
        kind: FlagKind,
        source: FlagSource,
        *,
        contact: Contact,
        revision: Revision | None,
        details: str,
        related_contact_id: int | None = None,
        proposal: dict[str, Any] | None = None,
    ) -> Flag:
        return open_flag(
            self.session,
            kind,
            source,
            self.now,
            self.flag_rules,
            contact_id=contact.id,
            revision_id=revision.id if revision else None,
            reporter_id=self.member_id,
            details=details,
            related_contact_id=related_contact_id,
            proposal=proposal,
        )

    def company_for(self, clean: CleanContact, company: Company | None) -> Company:
        if company is not None:
            return company
        domain = clean.company_domain or clean.email_domain
        name = clean.company or domain.split(".")[0].capitalize()
        company = Company(
            name=name, normalised_name=normalise_company_name(name), domain=domain
        )
        self.session.add(company)
        self.session.flush()
        return company

    def revision(self, contact: Contact, kind: RevisionKind, fields: dict) -> Revision:
        revision = Revision(
            contact_id=contact.id,
            member_id=self.member_id,
            kind=kind,
            source=self.source,
            fields=fields,
            attestation=self.attestation,
            contribution_file_id=self.contribution_file_id,
            ip_hash=self.ip_hash,
            created_at=self.now,
        )
        self.session.add(revision)
        self.session.flush()
        return revision

    def hold_if_domain_mismatch(self, contact: Contact, revision: Revision) -> bool:
        domain = email_domain(contact.email)
        known = company_domains(self.session, contact.company_id)
        if domain in known:
            return False
        contact.state = ContactState.HELD
        self.open_flag(
            FlagKind.DOMAIN_MISMATCH,
            FlagSource.ENTRY,
            contact=contact,
            revision=revision,
            details=(
                f"The email domain {domain} is not one of {contact.company.name}'s "
                f"domains ({', '.join(sorted(known))})."
            ),
        )
        return True

    def create(self, clean: CleanContact, company: Company | None) -> Outcome:
        company = self.company_for(clean, company)
        contact = Contact(
            first_name=clean.first_name,
            last_name=clean.last_name,
            title=clean.title,
            seniority=clean.seniority,
            department=clean.department,
            company=company,
            email=clean.email,
            phone=clean.phone,
            city=clean.city,
            country=clean.country,
            state=ContactState.ACTIVE,
            owner_id=self.member_id,
            last_confirmed_at=self.now,
            created_at=self.now,
        )
        self.session.add(contact)
        self.session.flush()
        fields = {name: field_value(contact, name) for name in PROVENANCE_FIELDS}
        revision = self.revision(contact, RevisionKind.CONTRIBUTION, _present(fields))
        held = self.hold_if_domain_mismatch(contact, revision)
        how = (
            "operator_import"
            if self.source == RevisionSource.OPERATOR_IMPORT
            else "member"
        )
        queue_notice(self.session, contact, how, self.now)
        awarded = 0
        if self.member_id is not None:
            points.award_contribution(self.session, revision, self.rules)
            awarded = self.rules.contribution_points
        return Outcome("held" if held else "accepted", contact, revision, awarded)

    def update(
        self,
        contact: Contact,
        clean: CleanContact,
        company: Company | None,
        *,
        keep_names: bool = False,
    ) -> Outcome:
        if contact.state == ContactState.GRAVEYARD:
            raise ContributionRefused(
                {
                    GENERAL: (
                        "This contact is marked as no longer at the company. If "
                        "they have moved, add them with their new company's email."
                    )
                }
            )
        new_company = company or (
            contact.company if not clean.company and not clean.company_domain else None
        )
        proposed: dict[str, Any] = {
            "first_name": clean.first_name,
            "last_name": clean.last_name,
            "title": clean.title,
            "email": clean.email,
            "phone": clean.phone,
            "city": clean.city,
            "country": clean.country,
        }
        if keep_names:
            del proposed["first_name"], proposed["last_name"]
        changes = {
            name: value
            for name, value in proposed.items()
            if value and value != getattr(contact, name)
        }
        if new_company is None or new_company.id != contact.company_id:
            changes["company"] = clean.company or clean.company_domain
        if not changes:
            return Outcome("unchanged", contact)
        email = changes.get("email", contact.email)
        if "email" in changes:
            taken = self.session.scalar(
                select(Contact.id).where(
                    Contact.email == email, Contact.id != contact.id
                )
            )
            if taken:
                # Saying "another contact uses this email" would confirm it.
                return self.propose(
                    contact,
                    changes,
                    f"The proposed email is already contact #{taken}'s.",
                    show_contact=True,
                )
        if {"email", "company"} & changes.keys():
            domains = (
                company_domains(self.session, new_company.id)
                if new_company is not None
                else {clean.company_domain or clean.email_domain}
            )
            if email_domain(email) not in domains:
                # Applied, this would hold the contact (hide it from everyone
                # but staff): a moderator decides instead.
                return self.propose(
                    contact,
                    changes,
                    f"The email domain {email_domain(email)} is not one of the "
                    f"company's domains ({', '.join(sorted(domains))}).",
                    show_contact=True,
                )
        material = bool(MATERIAL_FIELDS & changes.keys()) or (
            "title" in changes
            and (clean.seniority, clean.department)
            != (contact.seniority, contact.department)
        )
        if "company" in changes:
            contact.company = self.company_for(clean, new_company)
            changes["company"] = contact.company.name
        for name, value in changes.items():
            if name != "company":
                setattr(contact, name, value)
        if "title" in changes:
            contact.seniority, contact.department = clean.seniority, clean.department
        contact.last_confirmed_at = self.now
        # Ownership (the royalties) stays with whoever contributed the contact,
        # and pool contacts stay in the pool: an update earns update points,
        # never the contact, so it cannot buy a free reveal or royalties.
        self.session.flush()
        revision = self.revision(contact, RevisionKind.UPDATE, changes)
        awarded = 0
        if (
            self.member_id is not None
            and material
            and points.paid_update_due(self.session, contact.id, self.rules, self.now)
        ):
            points.award_update(self.session, revision, self.rules)
            awarded = self.rules.update_points
        return Outcome("updated", contact, revision, awarded)


def field_value(contact: Contact, name: str) -> Any:
    """A contact field's value as shown and recorded on revisions (the
    company by name)."""
    return contact.company.name if name == "company" else getattr(contact, name)


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value not in (None, "")}


def company_domains(session: Session, company_id: int) -> set[str]:
    primary = session.scalar(select(Company.domain).where(Company.id == company_id))
    aliases = session.scalars(
        select(CompanyDomain.domain).where(CompanyDomain.company_id == company_id)
    )
    return {primary, *aliases}


def field_provenance(session: Session, contact_id: int) -> dict[str, Revision]:
    """For each field, the revision that set its current value."""
    provenance: dict[str, Revision] = {}
    revisions = session.scalars(
        select(Revision).where(Revision.contact_id == contact_id).order_by(Revision.id)
    )
    for revision in revisions:
        for name in revision.fields:
            provenance[name] = revision
    return provenance


def contact_revisions(session: Session, contact_id: int) -> list[Revision]:
    return list(
        session.scalars(
            select(Revision)
            .where(Revision.contact_id == contact_id)
            .order_by(Revision.id.desc())
        )
    )


def confirm_contact(
    session: Session,
    contact: Contact,
    member_id: int | None,
    source: ConfirmationSource,
    now: datetime,
    *,
    interval: timedelta = timedelta(days=30),
    ip_hash: str | None = None,
    rules: points.Rules | None = None,
) -> ContactConfirmation:
    """Record that the contact is current and vest its pending points.

    A contributor cannot confirm their own contact, and a member confirms a
    contact at most once per ``interval``. A member's confirmation vests only
    the points of contributors it is independent of (another organisation, no
    shared IP within the window: ``points.independent``). A moderator's
    confirmation also releases a held contact. Raises ``ContactActionRefused``.
    """
    if contact.state == ContactState.GRAVEYARD:
        raise ContactActionRefused(
            "This contact has left the company; it cannot be confirmed."
        )
    if source == ConfirmationSource.MEMBER:
        if member_id is not None and member_id == contact.owner_id:
            raise ContactActionRefused(
                "You added this contact, so another member, a moderator or the "
                "person themselves has to confirm it."
            )
        recent = session.scalar(
            select(ContactConfirmation.created_at)
            .where(
                ContactConfirmation.contact_id == contact.id,
                ContactConfirmation.member_id == member_id,
                ContactConfirmation.created_at >= now - interval,
            )
            .limit(1)
        )
        if recent is not None:
            raise ContactActionRefused(
                f"You already confirmed this contact on {recent:%-d %b %Y}."
            )
    confirmation = ContactConfirmation(
        contact_id=contact.id,
        member_id=member_id,
        source=source,
        ip_hash=ip_hash,
        created_at=now,
    )
    session.add(confirmation)
    contact.last_confirmed_at = now
    if source != ConfirmationSource.MEMBER and contact.state == ContactState.HELD:
        contact.state = ContactState.ACTIVE
    session.flush()
    queue_notice(session, contact, "member", now)
    if contact.state == ContactState.ACTIVE:
        by_member = source == ConfirmationSource.MEMBER and member_id is not None
        points.vest_contact_points(
            session,
            contact.id,
            confirmed_by=member_id if by_member else None,
            confirmer_ip_hash=ip_hash,
            rules=rules,
            now=now,
        )
    return confirmation


def _check_challenge_allowance(
    session: Session, member_id: int, rules: points.Rules, now: datetime
) -> None:
    barred_until = points.challenges_barred_until(session, member_id, rules, now)
    if barred_until is not None:
        raise ContactActionRefused(
            f"{rules.challenge_ban_dismissed} of your challenges were dismissed "
            f"within {rules.challenge_ban_window_days} days, so you cannot "
            f"challenge contacts until {barred_until:%-d %b %Y %H:%M} UTC. You "
            "can still update a contact with what you know."
        )
    tier = points.member_tier(session, member_id, rules, now)
    if points.challenges_today(session, member_id, now) >= tier.challenge_cap:
        raise ContactActionRefused(
            f"You have sent {tier.challenge_cap} challenges today, the limit for "
            f"{tier.name} members. It resets at midnight UTC."
        )


def challenge_contact(
    session: Session,
    contact: Contact,
    member_id: int,
    kind: FlagKind,
    details: str,
    now: datetime,
    *,
    rules: points.Rules | None = None,
    flag_rules: FlagRules | None = None,
) -> Flag:
    """Open a challenge flag; the contact shows as disputed until it is resolved.

    The flag points at the revision at fault: the latest change for wrong
    information, the contribution itself otherwise. Raises
    ``ContactActionRefused`` for one's own contact, a second open challenge by
    the same member, a contact already in the graveyard, a member past their
    tier's daily number of challenges, or one barred for a while because
    too many of their challenges were dismissed.
    """
    if not kind.is_challenge:
        raise ContactActionRefused("Choose what is wrong with this contact.")
    if contact.state == ContactState.GRAVEYARD:
        raise ContactActionRefused("This contact is already marked as gone.")
    if contact.owner_id == member_id:
        raise ContactActionRefused(
            "You added this contact: update it instead of challenging it."
        )
    if any(
        f.reporter_id == member_id for f in points.open_challenges(session, contact.id)
    ):
        raise ContactActionRefused(
            "You already have an open challenge on this contact; a moderator "
            "will review it."
        )
    _check_challenge_allowance(session, member_id, rules or points.Rules(), now)
    order = Revision.id.desc() if kind == FlagKind.WRONG_INFO else Revision.id
    revision = session.scalar(
        select(Revision)
        .where(Revision.contact_id == contact.id, Revision.member_id.is_not(None))
        .order_by(order)
        .limit(1)
    )
    flag = open_flag(
        session,
        kind,
        FlagSource.MEMBER,
        now,
        flag_rules or FlagRules(),
        contact_id=contact.id,
        revision_id=revision.id if revision else None,
        reporter_id=member_id,
        details=details.strip(),
    )
    if contact.state == ContactState.ACTIVE:
        contact.state = ContactState.DISPUTED
    session.flush()
    return flag
