"""Bulk suppression from deletion platforms: files of SHA-256 hashes of
normalised emails (one per line, or a CSV with a ``hash`` column).

``read_hash_file`` checks the upload; ``apply_suppression_file`` (run by the
``apply_suppression_file`` job) keeps each hash on the suppression list in
its keyed form (see ``portal.suppression``) and erases every contact whose
email hashes to one of them, telling its recent recipients as an erasure by
the person does. Functions flush; the caller commits.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.csvfiles import CsvRejected, read_csv
from portal.models import Contact, SuppressionEntry, SuppressionFile
from portal.privacy.actions import Notified, erase_contact
from portal.suppression import digest_hash, email_sha256

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
HASH_COLUMNS = ("hash", "sha256", "email_sha256", "email_hash", "hashed_email")
SCAN_BATCH = 5000


class HashFileRefused(ValueError):
    """The file cannot be used; ``message`` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class HashFile:
    hashes: list[str]
    invalid_lines: int


def read_hash_file(content: bytes) -> HashFile:
    """The distinct hashes of an upload: plain lines of 64 hex digits, or a
    CSV whose header has a hash column. Raises ``HashFileRefused``."""
    text = content.decode("utf-8-sig", errors="replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise HashFileRefused("The file is empty.")
    first = lines[0]
    values: list[str]
    if _SHA256.fullmatch(first) or ("," not in first and ";" not in first):
        values = lines[1:] if first.lower() in HASH_COLUMNS else lines
    else:
        try:
            parsed = read_csv(
                content,
                fields=("hash",),
                aliases=dict.fromkeys(HASH_COLUMNS, "hash"),
                required={"hash"},
                max_rows=None,
            )
        except CsvRejected as refused:
            raise HashFileRefused(
                f"{refused.message} Name the hash column one of: "
                + ", ".join(HASH_COLUMNS)
                + "."
            ) from refused
        values = [row.values.get("hash", "") for row in parsed.iter_rows()]
    hashes: dict[str, None] = {}
    invalid = 0
    for value in values:
        if _SHA256.fullmatch(value):
            hashes[value.lower()] = None
        else:
            invalid += 1
    if not hashes:
        raise HashFileRefused(
            "No SHA-256 hashes found: each line must be 64 hexadecimal digits."
        )
    return HashFile(list(hashes), invalid)


def apply_suppression_file(
    session: Session,
    upload: SuppressionFile,
    *,
    key: str,
    now: datetime,
    window: timedelta,
    notify: Callable[[list[Notified]], None],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Suppress the file's hashes and erase the contacts they match; returns
    how many contacts were removed. Running it again adds nothing twice."""
    hashes = set(upload.hashes or [])
    keyed = {digest_hash(key, h) for h in hashes}
    present = set()
    for chunk in _chunks(sorted(keyed), 500):
        present.update(
            session.scalars(
                select(SuppressionEntry.email_hash).where(
                    SuppressionEntry.email_hash.in_(chunk)
                )
            )
        )
    new = keyed - present
    session.add_all(
        SuppressionEntry(email_hash=h, reason=f"deletion platform file {upload.id}")
        for h in sorted(new)
    )
    upload.new_entries = (upload.new_entries or 0) + len(new)
    session.flush()
    removed = 0
    last_id = 0
    while True:
        batch = session.execute(
            select(Contact.id, Contact.email)
            .where(Contact.id > last_id)
            .order_by(Contact.id)
            .limit(SCAN_BATCH)
        ).all()
        if not batch:
            break
        last_id = batch[-1][0]
        for contact_id, email in batch:
            if email_sha256(email) in hashes:
                contact = session.get(Contact, contact_id)
                notify(
                    erase_contact(
                        session,
                        contact,
                        key=key,
                        now=now,
                        window=window,
                        reason=f"deletion platform file {upload.id}",
                    )
                )
                removed += 1
        if progress is not None:
            progress(last_id)
    upload.contacts_removed = (upload.contacts_removed or 0) + removed
    upload.hashes = None
    upload.finished_at = now
    session.flush()
    return removed


def _chunks(items: list[str], size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]
