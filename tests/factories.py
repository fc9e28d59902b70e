"""Factories: ``make_*`` build and flush real rows with sensible defaults."""

from __future__ import annotations

import itertools
from typing import Any

from portal.auth.services import hash_password
from portal.dialects import bulk_writer
from portal.mail import send_email
from portal.models import (
    Company,
    Contact,
    ContributionFile,
    JobRun,
    JobState,
    Member,
    OutboxMessage,
    Role,
)
from portal.models.accounts import MemberStatus
from portal.models.base import utcnow

DEFAULT_PASSWORD = "correct horse battery"
# One complete, valid business contact, as a form or CSV row would give it.
PRIYA = {
    "first_name": "Priya",
    "last_name": "Raman",
    "title": "VP Sales EMEA",
    "company": "Brightwater Analytics",
    "company_domain": "brightwater-analytics.com",
    "email": "priya.raman@brightwater-analytics.com",
    "phone": "+44 20 7946 0958",
    "city": "London",
    "country": "GB",
}
# Hashing is deliberately slow; tests share one hash of the default password.
_DEFAULT_HASH = hash_password(DEFAULT_PASSWORD)


class Factories:
    def __init__(self, db):
        self.db = db
        self._counter = itertools.count(1)

    def make_member(
        self,
        email: str | None = None,
        role: Role | str = Role.MEMBER,
        password: str = DEFAULT_PASSWORD,
        status: MemberStatus = MemberStatus.ACTIVE,
        **fields: Any,
    ) -> Member:
        n = next(self._counter)
        # Members are verified unless a test asks for ``email_verified_at=None``.
        fields.setdefault("email_verified_at", utcnow())
        member = Member(
            email=email or f"member{n}@acme-test.example",
            display_name=fields.pop("display_name", f"Member {n}"),
            password_hash=_DEFAULT_HASH
            if password == DEFAULT_PASSWORD
            else hash_password(password),
            role=Role(role),
            status=status,
            **fields,
        )
        self.db.session.add(member)
        self.db.session.commit()
        return member

    def make_company(
        self, name: str | None = None, domain: str | None = None, **fields: Any
    ) -> Company:
        n = next(self._counter)
        name = name or f"Company {n}"
        company = Company(
            name=name,
            normalised_name=name.lower(),
            domain=domain or f"company{n}.example",
            **fields,
        )
        self.db.session.add(company)
        self.db.session.commit()
        return company

    def make_contact(self, company: Company | None = None, **fields: Any) -> Contact:
        n = next(self._counter)
        company = company or self.make_company()
        contact = Contact(
            first_name=fields.pop("first_name", "Jane"),
            last_name=fields.pop("last_name", f"Doe{n}"),
            title=fields.pop("title", "Head of Sales"),
            company=company,
            email=fields.pop("email", f"jane.doe{n}@{company.domain}"),
            **fields,
        )
        self.db.session.add(contact)
        self.db.session.commit()
        return contact

    def make_contribution_file(self, member: Member, **fields: Any) -> ContributionFile:
        contribution = ContributionFile(
            member_id=member.id,
            filename=fields.pop("filename", "contacts.csv"),
            content=fields.pop("content", b"first_name,last_name\r\n"),
            attestation=fields.pop("attestation", "I may share these contacts."),
            **fields,
        )
        self.db.session.add(contribution)
        self.db.session.commit()
        return contribution

    def make_job_run(
        self,
        created_by: Member | None = None,
        kind: str = "seed_demo_data",
        state: JobState = JobState.FAILED,
        **fields: Any,
    ) -> JobRun:
        run = JobRun(
            kind=kind,
            state=state,
            created_by_id=created_by.id if created_by is not None else None,
            **fields,
        )
        self.db.session.add(run)
        self.db.session.commit()
        return run

    def make_outbox_message(
        self, to_address: str = "someone@acme-test.example", kind: str = "welcome"
    ) -> OutboxMessage:
        message = send_email(to_address, "Welcome to Tessera", "Hello.", kind=kind)
        self.db.session.commit()
        return message


def bulk_insert_contacts(db, rows: list[dict[str, Any]]) -> None:
    """Insert contact rows (column -> value; timestamps as epoch seconds)
    through the bulk writer (COPY on PostgreSQL), as big loads write them."""
    columns = tuple(rows[0])
    with db.engine.connect() as conn:
        writer = bulk_writer(conn)
        stamped = [
            tuple(
                writer.timestamp(value) if name.endswith("_at") else value
                for name, value in row.items()
            )
            for row in rows
        ]
        with conn.begin():
            writer.insert("contacts", columns, stamped)
