"""A list's files on disk: the upload as sent, the rows as CSV, the outputs.

Files live under ``<instance>/lists/<list id>/``, outside the web root; only
the access-checked list routes read them. A CSV upload is read where it lies;
an xlsx upload's first sheet is written once to ``sheet.csv`` (plain RFC 4180,
values as text) so that every later step reads one format through
``portal.csvfiles``. Writes go to a temporary name and are renamed into place,
so a reader never sees half a file and a retried writer replaces, never
appends.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import shutil
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import IO

from portal.contactfields import LIST_FIELDS, LIST_HEADER_ALIASES
from portal.csvfiles import (
    EMPTY_FILE,
    CsvRejected,
    ParsedCsv,
    formula_escape,
    normalise_heading,
    stream_csv,
)
from portal.models import ListFormat, MatchList

ORIGINAL = "original"
SHEET_CSV = "sheet.csv"
XLSX_REFUSED = (
    "This workbook could not be read. Open it in Excel, save it again as "
    "Excel Workbook (.xlsx) or as CSV UTF-8, and upload that."
)
# A date in 1980 keeps zip entries (xlsx) byte-identical between runs.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


class ListFileRefused(CsvRejected):
    """The upload is refused as a whole; ``message`` says why and what to do."""


def list_folder(root: str | os.PathLike[str], list_id: int) -> Path:
    return Path(root) / "lists" / str(list_id)


def sniff_format(filename: str, content: bytes) -> ListFormat:
    """xlsx for an Office Open XML workbook (by its contents, whatever the
    name), CSV for anything else (``portal.csvfiles`` refuses what is not)."""
    if content.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                if "xl/workbook.xml" in archive.namelist():
                    return ListFormat.XLSX
        except zipfile.BadZipFile:
            pass
    return ListFormat.XLSX if filename.lower().endswith(".xlsx") else ListFormat.CSV


def headings_signature(headings: Sequence[str]) -> str:
    """A fingerprint of the heading row (normalised, in order)."""
    text = "\x1f".join(normalise_heading(heading) for heading in headings)
    return hashlib.sha256(text.encode()).hexdigest()


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def store_upload(folder: Path, list_format: ListFormat, content: bytes) -> Path:
    """Keep the upload as sent; returns its path."""
    path = folder / f"{ORIGINAL}.{list_format.value}"
    _atomic_write(path, lambda handle: handle.write(content))
    return path


def rows_path(folder: Path, list_format: ListFormat) -> Path:
    """The CSV the list's rows are read from."""
    if list_format == ListFormat.XLSX:
        return folder / SHEET_CSV
    return folder / f"{ORIGINAL}.csv"


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def xlsx_to_csv(source: Path, target: Path, *, max_rows: int) -> None:
    """Write the first sheet of a workbook as CSV text (values, not formulas).

    Raises ``ListFileRefused`` for a workbook that cannot be read, an empty
    sheet, or more than ``max_rows`` data rows (so a huge sheet is not
    converted in full before being refused).
    """
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(source, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise ListFileRefused(XLSX_REFUSED) from exc
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            raise ListFileRefused(EMPTY_FILE)
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        records = 0
        for values in sheet.iter_rows(values_only=True):
            cells = [_cell_text(value).strip() for value in values]
            while cells and not cells[-1]:
                cells.pop()
            if not cells:
                continue
            records += 1
            if records > max_rows + 1:
                raise ListFileRefused(too_many_rows(max_rows))
            writer.writerow(cells)
    finally:
        workbook.close()
    if not records:
        raise ListFileRefused(EMPTY_FILE)
    data = text.getvalue().encode("utf-8")
    _atomic_write(target, lambda handle: handle.write(data))


def too_many_rows(max_rows: int) -> str:
    return (
        f"The file has more than {max_rows:,} records. Split it into files of at "
        f"most {max_rows:,} records and upload each."
    )


def open_rows(
    path: Path, *, max_rows: int | None = None, mapping="proposed"
) -> ParsedCsv:
    """The list's rows through ``portal.csvfiles``: every cell kept, headings
    mapped as proposed (or by a confirmed column index -> field mapping).

    Raises ``CsvRejected`` as ``stream_csv`` does (with ``max_rows``: for more
    rows than that, and for headings without rows)."""
    return stream_csv(
        path,
        fields=LIST_FIELDS,
        aliases=LIST_HEADER_ALIASES,
        required=set(),
        max_rows=max_rows,
        mapping=mapping,
        keep_cells=True,
    )


def write_source_csv(
    path: Path, header: Sequence[object], rows: Iterable[Sequence[object]]
) -> None:
    """Rows to be read back by ``open_rows`` (a refresh's source): plain RFC
    4180, no formula escaping, since the text is never opened by a person."""

    def write(handle: IO[bytes]) -> None:
        wrapper = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        writer = csv.writer(wrapper, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
        wrapper.flush()
        wrapper.detach()

    _atomic_write(path, write)


def write_csv_output(
    path: Path, header: Sequence[object], rows: Iterable[Sequence[object]]
) -> None:
    """The output as CSV, formula-escaped (``portal.csvfiles.iter_csv``)."""
    from portal.csvfiles import iter_csv

    def write(handle: IO[bytes]) -> None:
        wrapper = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        for chunk in iter_csv(header, rows):
            wrapper.write(chunk)
        wrapper.flush()
        wrapper.detach()

    _atomic_write(path, write)


def write_xlsx_output(
    path: Path,
    header: Sequence[object],
    rows: Iterable[Sequence[object]],
    *,
    stamp: datetime,
) -> None:
    """The output as a one-sheet workbook, every text cell formula-escaped.

    ``stamp`` is written as the document's created/modified time and every zip
    entry gets a fixed date, so writing the same rows again gives the same
    bytes."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Sheet1")
    sheet.append([formula_escape(cell) for cell in header])
    for row in rows:
        sheet.append(
            [cell if isinstance(cell, int) else formula_escape(cell) for cell in row]
        )
    naive = stamp.replace(tzinfo=None, microsecond=0)
    workbook.properties.created = naive
    workbook.properties.modified = naive
    raw = io.BytesIO()
    workbook.save(raw)

    def write(handle: IO[bytes]) -> None:
        with (
            zipfile.ZipFile(raw) as source,
            zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as target,
        ):
            for info in source.infolist():
                fixed = zipfile.ZipInfo(info.filename, date_time=_ZIP_EPOCH)
                fixed.compress_type = zipfile.ZIP_DEFLATED
                fixed.external_attr = 0o600 << 16
                data = source.read(info.filename)
                if info.filename == "docProps/core.xml":
                    # openpyxl stamps the time of saving; keep ours.
                    data = _MODIFIED.sub(
                        rf"\g<1>{naive.isoformat()}Z\g<2>".encode(), data
                    )
                target.writestr(fixed, data)

    _atomic_write(path, write)


def read_xlsx_rows(path: Path) -> Iterator[list[str]]:
    """Every row of a workbook's first sheet as text (for tests and checks)."""
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        for values in workbook.worksheets[0].iter_rows(values_only=True):
            yield [_cell_text(value) for value in values]
    finally:
        workbook.close()


def delete_files(folder: Path) -> None:
    """Remove a list's folder and everything in it (nothing there is fine)."""
    shutil.rmtree(folder, ignore_errors=True)


def output_name(match_list: MatchList) -> str:
    stem = Path(match_list.filename).stem or "list"
    return f"{stem}-tessera.{match_list.format.value}"
