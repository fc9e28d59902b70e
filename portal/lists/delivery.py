"""Accepting a quote and delivering the list: the merged file in the format
it came in, the change report, one disclosure per delivered contact and the
invoice; and a customer's dispute of a row.

Accepting is one conditional update (quoted and unexpired -> merging), so
two admins accepting at once start one merge and bill once. The merge job
writes its files under temporary names and renames them into place, then
records disclosures, the invoice and the ``delivered`` state in one
transaction guarded by the state: a merge killed half way and run again
writes the same bytes and records everything once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal import queue
from portal.billing.invoices import LineInput, create_invoice
from portal.billing.providers import ManualInvoiceProvider
from portal.billing.rules import BillingRules
from portal.disclosures import record_disclosures
from portal.lists import files
from portal.lists.matchfile import MatchedFile, MatchSummary, list_row
from portal.lists.pricing import is_delivered
from portal.lists.run import open_confirmed
from portal.matching.batch import FieldStatus, MatchStatus, RowMatch
from portal.models import (
    DisclosureChannel,
    Flag,
    FlagKind,
    FlagSource,
    ListFormat,
    ListState,
    MatchList,
    MatchListRow,
    Member,
    Organisation,
)
from portal.moderation.flags import FlagRules, open_flag

OUTPUT = "output"
CHANGES = "changes.csv"
CHANGES_HEADER = ("row", "record_id", "status", "field", "theirs", "ours")


class QuoteNotAcceptable(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def output_path(root: str | Path, match_list: MatchList) -> Path:
    folder = files.list_folder(root, match_list.id)
    return folder / f"{OUTPUT}.{match_list.format.value}"


def changes_path(root: str | Path, match_list: MatchList) -> Path:
    return files.list_folder(root, match_list.id) / CHANGES


def accept_quote(
    session: Session, match_list: MatchList, *, member: Member | None, now: datetime
) -> None:
    """Accept the list's quote and queue its merge (enqueued on commit);
    ``member`` None is a scheduled refresh within its price cap.

    Raises ``QuoteNotAcceptable`` for a quote that is expired, already
    accepted, or not there yet.
    """
    accepted = session.execute(
        update(MatchList)
        .where(
            MatchList.id == match_list.id,
            MatchList.state == ListState.QUOTED,
            MatchList.quote_expires_at > now,
        )
        .values(
            state=ListState.MERGING,
            accepted_by_id=member.id if member is not None else None,
            accepted_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(match_list)
    if not accepted:
        if match_list.state == ListState.QUOTED:
            raise QuoteNotAcceptable(
                "This quote has expired. Ask for a new quote: the list is matched "
                "again against today's data."
            )
        raise QuoteNotAcceptable(
            f"This list is {match_list.state.value}; there is no open quote to accept."
        )
    run = queue.start_job(
        "merge_list", subject=match_list, created_by=member, session=session
    )
    match_list.merge_run_id = run.id
    session.flush()


def quote_expired(match_list: MatchList, now: datetime) -> bool:
    return (
        match_list.state == ListState.QUOTED
        and match_list.quote_expires_at is not None
        and match_list.quote_expires_at <= now
    )


def _stored_result(row: MatchListRow) -> RowMatch:
    return RowMatch(
        status=MatchStatus(row.status),
        confidence=row.confidence,
        contact_id=row.contact_id,
        reason=row.reason,
        fields={name: FieldStatus(value) for name, value in row.fields.items()},
        ours=dict(row.ours),
    )


def merged_file(
    session: Session, match_list: MatchList, root: str | Path
) -> MatchedFile:
    """The list's rows and their stored outcomes, as ``portal match`` writes
    them out."""
    parsed = open_confirmed(match_list, root)
    rows = list(parsed.iter_rows())
    stored = session.scalars(
        select(MatchListRow)
        .where(MatchListRow.list_id == match_list.id)
        .order_by(MatchListRow.position)
    ).all()
    if len(stored) != len(rows):
        raise RuntimeError(
            f"list {match_list.id} has {len(stored)} results for {len(rows)} rows"
        )
    theirs = [list_row(row) for row in rows]
    results = [_stored_result(row) for row in stored]
    return MatchedFile(parsed, rows, theirs, results, MatchSummary(rows=len(rows)))


def change_rows(matched: MatchedFile) -> Iterator[list[object]]:
    for row, theirs, result in zip(
        matched.rows, matched.theirs, matched.results, strict=True
    ):
        if not is_delivered(str(result.status), result.fields):
            continue
        for name, old, new in result.changes(theirs):
            yield [
                row.number,
                row.values.get("record_id", ""),
                str(result.status),
                name,
                old,
                new,
            ]


def write_outputs(
    session: Session, match_list: MatchList, root: str | Path
) -> MatchedFile:
    """Write the merged file and the change report (replacing any earlier
    attempt's)."""
    matched = merged_file(session, match_list, root)
    target = output_path(root, match_list)
    if match_list.format == ListFormat.XLSX:
        files.write_xlsx_output(
            target,
            matched.output_header(),
            matched.output_rows(),
            stamp=match_list.accepted_at or match_list.created_at,
        )
    else:
        files.write_csv_output(target, matched.output_header(), matched.output_rows())
    files.write_csv_output(
        changes_path(root, match_list), CHANGES_HEADER, change_rows(matched)
    )
    return matched


def run_merge(
    session: Session,
    match_list: MatchList,
    *,
    root: str | Path,
    billing: BillingRules,
    now: datetime,
) -> dict:
    """Deliver an accepted list (see the module docstring). Commits."""
    if match_list.state == ListState.DELIVERED:
        return {"list_id": match_list.id, "already_delivered": True}
    if match_list.state != ListState.MERGING:
        raise RuntimeError(f"list {match_list.id} is {match_list.state.value}")
    matched = write_outputs(session, match_list, root)
    session.rollback()  # the reads above hold no writes; start clean
    delivered = session.execute(
        update(MatchList)
        .where(MatchList.id == match_list.id, MatchList.state == ListState.MERGING)
        .values(state=ListState.DELIVERED, delivered_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not delivered:
        session.rollback()
        return {"list_id": match_list.id, "already_delivered": True}
    session.refresh(match_list)
    organisation = session.get(Organisation, match_list.organisation_id)
    contact_ids = sorted(
        {
            result.contact_id
            for result in matched.results
            if result.contact_id is not None
            and is_delivered(str(result.status), result.fields)
        }
    )
    record_disclosures(
        session, contact_ids, organisation, DisclosureChannel.LIST_DELIVERY, now
    )
    invoice = None
    if match_list.quote_total and match_list.quote_total > 0:
        invoice = create_invoice(
            session,
            lines=[
                LineInput(
                    f"List '{match_list.filename[:120]}': {line['description']}",
                    int(line["quantity"]),
                    Decimal(line["unit_price"]),
                )
                for line in match_list.quote_lines or []
            ],
            currency=match_list.quote_currency or organisation.currency,
            rules=billing,
            now=now,
            organisation=organisation,
            created_by=None,
            source=match_list,
        )
        ManualInvoiceProvider(billing).issue(session, invoice, now=now)
        match_list.invoice_id = invoice.id
    session.commit()
    return {
        "list_id": match_list.id,
        "delivered_records": len(contact_ids),
        "invoice": invoice.number if invoice is not None else None,
    }


def dispute_row(
    session: Session,
    match_list: MatchList,
    row: MatchListRow,
    *,
    member: Member,
    details: str,
    now: datetime,
    rules: FlagRules,
) -> Flag:
    """A customer says this row was matched to the wrong person: a moderation
    flag of source ``customer`` on the matched contact, once per row.

    Raises ``ValueError`` for a row without a matched contact or already
    disputed.
    """
    if row.contact_id is None:
        raise ValueError("This row was not matched to anybody.")
    if row.disputed_at is not None:
        raise ValueError("This row is already disputed.")
    record = f" (record {row.record_id})" if row.record_id else ""
    text = (
        f"List {match_list.id} '{match_list.filename}', row {row.row_number}"
        f"{record}: the customer says this is not the same person."
    )
    if details.strip():
        text += f"\n\n{details.strip()}"
    flag = open_flag(
        session,
        FlagKind.LIST_MISMATCH,
        FlagSource.CUSTOMER,
        now,
        rules,
        contact_id=row.contact_id,
        reporter_id=member.id,
        details=text,
    )
    row.disputed_at = now
    session.flush()
    return flag
