"""'My contacts': everything the member has revealed, searchable, exportable."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Blueprint, Response, flash, redirect, request
from flask_login import current_user, login_required
from sqlalchemy import Select, or_, select

from portal.contactfields import CONTACT_FIELDS
from portal.csvfiles import iter_csv
from portal.disclosures import record_disclosures
from portal.extensions import db
from portal.models import Company, Contact, DisclosureChannel, Unlock
from portal.models.base import utcnow
from portal.pagination import paginate
from portal.rendering import render
from portal.security import safe_local_path
from portal.xlsxfiles import XLSX_MIMETYPE, write_xlsx

bp = Blueprint("my", __name__, url_prefix="/my")

EXPORT_HEADER = (*CONTACT_FIELDS, "revealed_at", "last_confirmed_at")


def _revealed(text: str) -> Select:
    """The member's revealed contacts, newest reveal first, optionally filtered."""
    statement = (
        select(Contact, Unlock.created_at)
        .join(Unlock, Unlock.contact_id == Contact.id)
        .join(Company, Company.id == Contact.company_id)
        .where(Unlock.member_id == current_user.id)
        .order_by(Unlock.created_at.desc(), Unlock.id.desc())
    )
    for word in text.split()[:8]:
        pattern = f"%{word[:100]}%"
        statement = statement.where(
            or_(
                Contact.first_name.ilike(pattern),
                Contact.last_name.ilike(pattern),
                Contact.title.ilike(pattern),
                Contact.email.ilike(pattern),
                Company.name.ilike(pattern),
            )
        )
    return statement


@bp.get("/contacts")
@login_required
def contacts():
    text = (request.args.get("q") or "").strip()[:200]
    page = paginate(_revealed(text), request.args.get("page"), scalars=False)
    return render("my/contacts.html", "my/_contacts_table.html", page=page, q=text)


def _exported(
    ids: list[int] | None = None,
) -> tuple[Sequence[object], list[tuple[object, ...]]]:
    """Every revealed contact (or those of ``ids`` the member revealed) as
    export rows, each recorded as a disclosure (committed by the caller)."""
    statement = _revealed("")
    if ids is not None:
        statement = statement.where(Contact.id.in_(ids))
    rows = db.session.execute(statement).all()
    record_disclosures(
        db.session,
        (contact.id for contact, _ in rows),
        current_user._get_current_object(),
        DisclosureChannel.EXPORT,
        utcnow(),
    )
    return EXPORT_HEADER, [
        (
            c.first_name,
            c.last_name,
            c.title,
            c.company.name,
            c.company.domain,
            c.email,
            c.phone,
            c.city,
            c.country,
            revealed_at.date().isoformat(),
            c.last_confirmed_at.date().isoformat() if c.last_confirmed_at else "",
        )
        for c, revealed_at in rows
    ]


def _attachment(body: str | bytes, mimetype: str, extension: str) -> Response:
    name = f"tessera-my-contacts.{extension}"
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


EXPORT_FORMATS = {
    "csv": lambda header, rows: ("".join(iter_csv(header, rows)), "text/csv"),
    "xlsx": lambda header, rows: (write_xlsx(header, rows), XLSX_MIMETYPE),
}


@bp.get("/contacts.csv")
@login_required
def export():
    """Every revealed contact as CSV; each exported contact is a disclosure."""
    return _export_all("csv")


@bp.get("/contacts.xlsx")
@login_required
def export_xlsx():
    """Every revealed contact as an .xlsx workbook whose cells are all text;
    each exported contact is a disclosure."""
    return _export_all("xlsx")


def _export_all(fmt: str) -> Response:
    body, mimetype = EXPORT_FORMATS[fmt](*_exported())
    db.session.commit()
    return _attachment(body, mimetype, fmt)


@bp.post("/contacts/export")
@login_required
def export_selected():
    """The selected contacts that the member revealed, as CSV or .xlsx (from
    the search results); the others are left out. Each is a disclosure."""
    fmt = request.form.get("format", "csv")
    if fmt not in EXPORT_FORMATS:
        fmt = "csv"
    ids = [
        int(raw)
        for raw in request.form.getlist("ids")[:1000]
        if raw.isascii() and raw.isdigit() and len(raw) <= 9
    ]
    header, rows = _exported(ids)
    if not rows:
        flash("None of the selected contacts is revealed yet: reveal them first.")
        return redirect(safe_local_path(request.form.get("back")) or "/search")
    body, mimetype = EXPORT_FORMATS[fmt](header, rows)
    db.session.commit()
    return _attachment(body, mimetype, fmt)
