"""Shared set-up for the list service tests: an organisation, its pool and
an uploaded, mapped list."""

from __future__ import annotations

import csv
import io

from portal.lists import upload
from portal.lists.pricing import ListRules
from portal.models import MatchList, Member, Organisation
from portal.models.base import utcnow

HUBSPOT = (
    "Record ID,First Name,Last Name,Company Name,Email,Job Title,Notes\n"
    '101,Bob,Whitfield,Acme Robotics Ltd,,Sales Lead,=HYPERLINK("http://x")\n'
    "102,Anna,Kovacs,Acme Robotics,,,\n"
    "103,,,Acme Robotics,,,\n"
    "104,Robert,Whitfield,Globex,robert.whitfield@acme.com,,\n"
    "105,Carla,Mendes,Acme Robotics,carla.mendes@acme.com,CFO,\n"
)


def make_pool(factories):
    """Acme with Robert Whitfield (all details) and Carla Mendes (in sync)."""
    acme = factories.make_company("Acme Robotics Ltd", domain="acme.com")
    factories.make_company("Globex GmbH", domain="globex.de")
    robert = factories.make_contact(
        acme,
        first_name="Robert",
        last_name="Whitfield",
        email="robert.whitfield@acme.com",
        phone="+442079460958",
        title="Head of Sales",
        city="London",
        country="GB",
    )
    carla = factories.make_contact(
        acme,
        first_name="Carla",
        last_name="Mendes",
        email="carla.mendes@acme.com",
        title="CFO",
    )
    return robert, carla


def make_org_member(
    factories, role: str = "org_admin", organisation: Organisation | None = None
) -> Member:
    if organisation is None:
        organisation = Organisation(name="Northwind Traders")
        factories.db.session.add(organisation)
        factories.db.session.commit()
    return factories.make_member(role=role, organisation_id=organisation.id)


def upload_list(
    app,
    member: Member,
    text: str = HUBSPOT,
    *,
    filename: str = "crm.csv",
    content: bytes | None = None,
    confirm: bool = True,
) -> MatchList:
    session = app.extensions["sqlalchemy"].session
    match_list = upload.accept_upload(
        session,
        member,
        filename=filename,
        content=content if content is not None else text.encode("utf-8"),
        rules=ListRules.from_config(app.config),
        root=app.config["INSTANCE_PATH"],
        now=utcnow(),
    )
    if confirm:
        proposed = upload.propose_mapping(
            session, match_list, app.config["INSTANCE_PATH"]
        )
        upload.confirm_mapping(
            session,
            match_list,
            {column.index: column.proposed for column in proposed.columns},
            member=member,
            now=utcnow(),
        )
    session.commit()
    return match_list


def read_csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
