"""Members, their login sessions, and organisations."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import UTCDateTime, text_enum, utcnow


class Role(enum.StrEnum):
    MEMBER = "member"
    ORG_ADMIN = "org_admin"
    MODERATOR = "moderator"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return {"org_admin": "Org admin"}.get(self.value, self.value.capitalize())


class MemberStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Plan(enum.StrEnum):
    FREE = "free"
    PRO = "pro"
    ENTERPRISE = "enterprise"


def new_pseudonym() -> str:
    return secrets.token_hex(2).upper()


class Organisation(db.Model):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    plan: Mapped[Plan] = mapped_column(text_enum(Plan, "plan"), default=Plan.FREE)
    pooling_opt_in: Mapped[bool] = mapped_column(Boolean, default=False)
    # Paid seats: on Pro and Enterprise this many members receive the monthly
    # allowance (see portal.billing.plans).
    seats: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # ISO 4217 code its invoices and quotes are in.
    currency: Mapped[str] = mapped_column(
        String(3), default="EUR", server_default="EUR"
    )
    # Enterprise only: the points each seat receives a month (None: none).
    custom_allowance: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    members: Mapped[list[Member]] = relationship(back_populates="organisation")


class Member(UserMixin, db.Model):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(100))
    # Shown instead of the name on contributions ("added by member 7F3A").
    pseudonym: Mapped[str] = mapped_column(String(8), default=new_pseudonym)
    role: Mapped[Role] = mapped_column(text_enum(Role, "role"), default=Role.MEMBER)
    status: Mapped[MemberStatus] = mapped_column(
        text_enum(MemberStatus, "member_status"), default=MemberStatus.ACTIVE
    )
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True
    )
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the member followed the emailed verification link (or an operator
    # created the account); until then they may not contribute or reveal.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organisation: Mapped[Organisation | None] = relationship(back_populates="members")

    @property
    def is_active(self) -> bool:  # Flask-Login: suspended members are logged out
        return self.status == MemberStatus.ACTIVE

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    def has_role(self, *roles: Role) -> bool:
        """True when the member holds one of ``roles``; admins hold every role."""
        return self.role == Role.ADMIN or self.role in roles


class MemberSession(db.Model):
    """A login: the server-side half of the session cookie.

    The cookie carries a random token; only its SHA-256 is stored. Logging out
    revokes the row, so a replayed copy of the old cookie no longer loads a
    member.
    """

    __tablename__ = "member_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True
    )
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    member: Mapped[Member] = relationship()


class InvitationState(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"


class OrganisationInvitation(db.Model):
    """An org admin's invitation for an email address to join the organisation.

    The emailed link is a one-time token (``portal.tokens``, purpose
    ``org_invitation``, subject ``invitation:<id>``); this row is what the org
    admin sees: who was invited, by whom, and what became of it.
    """

    __tablename__ = "organisation_invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254))
    # ``account_email_key(email)``: compared with the accepting member's.
    email_key: Mapped[str] = mapped_column(String(254), index=True)
    invited_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    state: Mapped[InvitationState] = mapped_column(
        text_enum(InvitationState, "invitation_state"), default=InvitationState.PENDING
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organisation: Mapped[Organisation] = relationship()
    invited_by: Mapped[Member | None] = relationship(foreign_keys=[invited_by_id])

    def is_open(self, now: datetime) -> bool:
        return self.state == InvitationState.PENDING and self.expires_at > now
