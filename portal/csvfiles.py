"""Reading uploaded CSV files and writing CSV downloads, safely.

Every CSV that enters or leaves Tessera goes through this module: member
contact uploads, the operator's bulk import, the enterprise list files and the
report downloads. It is pure: no Flask, no database. The field names and header
aliases are parameters (the contact vocabulary is ``portal.contactfields``).

Reading (``read_csv`` for bytes or text held in memory, ``stream_csv`` for a
path or a seekable file, which never holds the file in memory):

- Encoding: a BOM decides (UTF-8, UTF-16 LE/BE, UTF-32); UTF-16 without a BOM
  is recognised by its pattern of NUL bytes; otherwise strict UTF-8, then
  cp1252 (what Excel on Windows writes), then latin-1, which always decodes.
- Files that are not text are refused with a message saying what they are and
  what to do: Excel workbooks, zip and gzip archives, PDFs, images, and any
  other file with NUL bytes or a high share of control characters.
- Delimiter: one of ``, ; TAB |``. The candidate under which the heading row
  names the most known columns wins; only a tie (a one-column heading row, or
  nothing recognised) is settled by ``csv.Sniffer`` on a short sample, and
  comma is the fallback. The headings are a far stronger signal than the
  Sniffer's character counts, which is why they come first.
- Row numbers are the ones a spreadsheet shows: every record counts, blank
  ones included, and a quoted cell spanning several lines is one row; with no
  blank line before it the heading row is row 1 and the first data row row 2.
  Blank rows (no cell holds anything but whitespace) are skipped.
- Cells are stripped of surrounding whitespace (the formula check then judges
  what is left, so a leading tab is dropped, not reported). Rows with too few
  cells are padded with "" and extra cells are ignored; neither is a problem.
- Row problems (``ParsedRow.problem``, the row is still returned with its
  values): a mapped cell longer than ``max_cell_chars``, a mapped cell holding
  a NUL character (databases cannot store it; only text given as ``str`` or
  decoded from UTF-16/32 can hold one, as NUL bytes in any other file refuse
  it as binary), a mapped cell that looks like a spreadsheet formula (see
  ``looks_like_formula``). Unmapped cells are never checked: they are not
  kept.
- Quoting is read strictly: a quote mark that is never closed, or text straight
  after a closing quote, refuses the whole file with the row number, because
  everything after it would be read wrongly. ``read_csv`` finds this before
  returning; ``stream_csv`` raises it from the row iterator when it gets there
  (or before returning when ``max_rows`` makes it count the rows first).
- The csv module refuses cells longer than ``csv.field_size_limit()`` (131,072
  by default). While a read is running the limit is raised to the size of the
  file, so an over-long cell becomes a row problem rather than an exception;
  it is put back when the last concurrent read in the process ends. The limit
  is global to the process, so another thread parsing CSV meanwhile sees the
  higher limit (never a lower one), and a limit it sets itself is overwritten
  when our reads end.

Writing (``write_csv``, ``iter_csv``): RFC 4180 quoting, ``\\r\\n`` line
endings, ``None`` as "", and every text cell that a spreadsheet could run as a
formula prefixed with an apostrophe (``formula_escape``); phone numbers and
signed numbers are written as they are.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import sys
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from operator import itemgetter
from typing import BinaryIO, TextIO

from rapidfuzz import fuzz, process

DEFAULT_MAX_CELL_CHARS = 131_072


def normalise_heading(text: str) -> str:
    """Return ``text`` as compared with header aliases.

    Case-insensitive (casefolded after NFKC), with everything that is not a
    letter or digit removed: spaces, underscores, hyphens, punctuation,
    surrounding quotes and a BOM. "E-mail", "e_mail" and '"Email "' all give
    "email".
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(char for char in folded if char.isalnum())


class CsvRejected(ValueError):
    """The whole file is refused; ``message`` says why and what to do, plainly."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(slots=True)
class ParsedRow:
    """One data row.

    ``number`` is the row number a spreadsheet shows for it. ``values`` holds
    every mapped field, stripped, "" for a missing cell. ``problem`` is a reason
    in plain words why the row cannot be used, or None.
    """

    number: int
    values: dict[str, str]
    problem: str | None = None
    # Every cell of the record, as read (only when asked for).
    cells: list[str] | None = None


@dataclass
class CsvHeader:
    """How the heading row maps onto fields.

    ``columns``: column index -> field, for the first column meaning each field.
    ``unmapped``: heading texts that mean no field (blank headings left out).
    ``duplicates``: heading texts of further columns meaning an already mapped
    field.
    """

    columns: dict[int, str]
    unmapped: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    # The heading row's texts, cleaned, in file order.
    cells: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ParsedCsv:
    """A CSV file whose heading row has been accepted.

    ``encoding`` is the codec the bytes were decoded with ("utf-8-sig",
    "utf-16", "utf-32" when there was a BOM; "utf-16-le", "utf-16-be",
    "utf-8", "cp1252", "latin-1" otherwise), or "text" when given text.
    ``row_count`` is the number of data rows when it was counted (always for
    ``read_csv``, for ``stream_csv`` only when ``max_rows`` was given), else
    None.
    """

    header: CsvHeader
    encoding: str
    delimiter: str
    row_count: int | None
    _rows: Callable[[], Iterator[ParsedRow]] = field(repr=False, compare=False)

    def iter_rows(self) -> Iterator[ParsedRow]:
        """Yield the data rows in file order, parsing as it goes.

        Each call starts again from the top of the file (a streamed file is
        read again). Raises ``CsvRejected`` for broken quoting that was not
        found before (only possible for ``stream_csv`` without ``max_rows``).
        """
        return self._rows()

    def __iter__(self) -> Iterator[ParsedRow]:
        return self.iter_rows()


RequiredHeadings = Callable[[set[str]], str | None] | set[str] | frozenset[str]
# "exact", "proposed", or a confirmed column index -> field mapping.
HeaderMapping = str | Mapping[int, str]
# A heading that no alias spells exactly maps to the field of the closest
# alias from this rapidfuzz ratio ("Frist Name", "E-mial Adress").
FUZZY_HEADING_CUTOFF = 85.0


def missing_message(missing: Sequence[str]) -> str:
    if len(missing) == 1:
        return (
            f"This column is missing: {missing[0]}. Add a column with that heading "
            "in the first row and upload again."
        )
    return (
        f"These columns are missing: {', '.join(missing)}. Add a column with each "
        "of those headings in the first row and upload again."
    )


# --- Decoding ---------------------------------------------------------------

EMPTY_FILE = (
    "The file is empty. Choose the CSV file again; it needs a heading row and "
    "one row per record."
)
NOT_CSV = (
    "This does not look like a CSV file. Save your spreadsheet as CSV "
    "(File > Save As > CSV UTF-8) and upload that."
)
_EXCEL = (
    "This is an Excel workbook; save it as CSV (File > Save As > CSV UTF-8) and "
    "upload that."
)
_OLD_OFFICE = (
    "This is an old Excel workbook (.xls) or another Office document; open it in "
    "Excel, save it as CSV (File > Save As > CSV UTF-8) and upload that."
)
_OPENDOCUMENT = (
    "This is an OpenDocument spreadsheet; save it as CSV (File > Save As > Text "
    "CSV, character set UTF-8) and upload that."
)
_ZIP = "This is a zip archive; unzip it and upload the CSV file inside."
_GZIP = "This is a compressed (gzip) file; unpack it and upload the CSV file inside."
_PDF = (
    "This is a PDF, not a CSV file. Export the data as CSV from the system it "
    "came from and upload that."
)
_IMAGE = "This is an image, not a CSV file. Upload a CSV file with one record per row."
_DAMAGED = (
    "The text in this file is damaged, so it cannot be read. Save it again as "
    "CSV UTF-8 and upload that."
)

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", _OLD_OFFICE),
    (b"%PDF-", _PDF),
    (b"\x89PNG\r\n\x1a\n", _IMAGE),
    (b"\xff\xd8\xff", _IMAGE),
    (b"GIF87a", _IMAGE),
    (b"GIF89a", _IMAGE),
    (b"\x1f\x8b", _GZIP),
)
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
_BOMS: tuple[tuple[bytes, str], ...] = (
    # UTF-32 LE starts with the UTF-16 LE BOM, so it is tested first.
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SAMPLE_BYTES = 65_536
_SAMPLE_CHARS = 65_536
_CHUNK_BYTES = 1 << 20
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# A real CSV holds at most a stray control character or two; decoded binary
# data holds one in every eight or so.
_MAX_CONTROL_SHARE = 0.01
_MAX_CONTROL_COUNT = 2


def decode_csv_bytes(data: bytes) -> str:
    """Return the text of an uploaded CSV file, BOM removed.

    Raises ``CsvRejected`` for an empty (or whitespace-only) file, for files
    that are not text (workbooks, archives, PDFs, images, anything with NUL
    bytes or many control characters) and for text damaged in its encoding.
    """
    return _decode_bytes(data)[0]


def _decode_bytes(data: bytes) -> tuple[str, str]:
    if not data.strip():
        raise CsvRejected(EMPTY_FILE)
    _refuse_binary(data[:_SAMPLE_BYTES], data[-_SAMPLE_BYTES:])
    encoding = _bom_encoding(data) or _bomless_utf16(data[:_SAMPLE_BYTES])
    if encoding is not None:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            raise CsvRejected(_DAMAGED) from None
    else:
        if b"\x00" in data:
            raise CsvRejected(NOT_CSV)
        for encoding in ("utf-8", "cp1252", "latin-1"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    if not text.strip():
        raise CsvRejected(EMPTY_FILE)
    _refuse_control_characters(text[:_SAMPLE_CHARS])
    return text, encoding


def _refuse_binary(head: bytes, tail: bytes) -> None:
    for signature, message in _SIGNATURES:
        if head.startswith(signature):
            raise CsvRejected(message)
    if head.startswith(_ZIP_SIGNATURES):
        # Entry names are stored uncompressed, in the local headers near the
        # start and in the central directory at the end.
        if b"opendocument.spreadsheet" in head:
            raise CsvRejected(_OPENDOCUMENT)
        if b"xl/" in head or b"xl/" in tail:
            raise CsvRejected(_EXCEL)
        raise CsvRejected(_ZIP)


def _bom_encoding(head: bytes) -> str | None:
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    return None


def _bomless_utf16(head: bytes) -> str | None:
    """UTF-16 without a BOM: ASCII text puts a NUL in every other byte."""
    sample = head[:4096]
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even_nuls = sample[0 : pairs * 2 : 2].count(0)
    odd_nuls = sample[1 : pairs * 2 : 2].count(0)
    if odd_nuls >= pairs * 0.3 and even_nuls <= pairs * 0.05:
        return "utf-16-le"
    if even_nuls >= pairs * 0.3 and odd_nuls <= pairs * 0.05:
        return "utf-16-be"
    return None


def _refuse_control_characters(sample: str) -> None:
    count = len(_CONTROL_CHARS.findall(sample))
    if count > _MAX_CONTROL_COUNT and count > len(sample) * _MAX_CONTROL_SHARE:
        raise CsvRejected(NOT_CSV)


# --- Sources: where the text comes from -------------------------------------


@dataclass(frozen=True)
class _Source:
    open: Callable[[], AbstractContextManager[TextIO]]
    encoding: str
    max_chars: int
    may_hold_nul: bool


def _memory_source(data: bytes | str) -> _Source:
    # Rows are parsed from bytes through a TextIOWrapper: several times faster
    # than a StringIO with newline="", and uploaded bytes need not be held a
    # second time as decoded text.
    if isinstance(data, bytes):
        text, encoding = _decode_bytes(data)
        raw, codec, errors = data, encoding, "strict"
    else:
        text = data.removeprefix("\ufeff")
        if not text.strip():
            raise CsvRejected(EMPTY_FILE)
        encoding = "text"
        raw, codec, errors = (
            text.encode("utf-8", "surrogatepass"),
            "utf-8",
            "surrogatepass",
        )
    may_hold_nul = "\x00" in text
    del text

    @contextmanager
    def open_text() -> Iterator[TextIO]:
        yield io.TextIOWrapper(
            io.BytesIO(raw), encoding=codec, errors=errors, newline=""
        )

    return _Source(open_text, encoding, len(raw), may_hold_nul)


def _stream_source(source: str | os.PathLike[str] | BinaryIO | TextIO) -> _Source:
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)

        @contextmanager
        def open_binary() -> Iterator[BinaryIO]:
            with open(path, "rb") as binary:
                yield binary

    else:
        if not source.seekable():
            raise ValueError("stream_csv needs a path or a seekable file")
        source.seek(0)
        if isinstance(source.read(0), str):
            return _text_stream_source(source)
        binary_file: BinaryIO = source

        @contextmanager
        def open_binary() -> Iterator[BinaryIO]:
            binary_file.seek(0)
            yield binary_file

    with open_binary() as binary:
        size = binary.seek(0, io.SEEK_END)
        encoding = _detect_stream_encoding(binary, size)

    @contextmanager
    def open_text() -> Iterator[TextIO]:
        with open_binary() as binary:
            text = io.TextIOWrapper(binary, encoding=encoding, newline="")
            try:
                yield text
            finally:
                # Leave the caller's file open: closing the wrapper would close it.
                text.detach()

    may_hold_nul = encoding.startswith(("utf-16", "utf-32"))
    return _Source(open_text, encoding, size, may_hold_nul)


def _text_stream_source(stream: TextIO) -> _Source:
    @contextmanager
    def open_text() -> Iterator[TextIO]:
        stream.seek(0)
        yield stream

    with open_text() as text:
        head = text.read(_SAMPLE_CHARS)
        has_content = bool(head.strip())
        while not has_content and (chunk := text.read(_CHUNK_BYTES)):
            has_content = bool(chunk.strip())
    if not has_content:
        raise CsvRejected(EMPTY_FILE)
    return _Source(open_text, "text", sys.maxsize - 1, True)


def _detect_stream_encoding(binary: BinaryIO, size: int) -> str:
    """Apply ``decode_csv_bytes``'s rules to a file, reading it in chunks."""
    binary.seek(0)
    head = binary.read(_SAMPLE_BYTES)
    binary.seek(max(0, size - _SAMPLE_BYTES))
    tail = binary.read(_SAMPLE_BYTES)
    _refuse_binary(head, tail)
    encoding = _bom_encoding(head) or _bomless_utf16(head)
    if encoding is not None:
        has_content = _scan_stream(binary, encoding, forbid_nul=False)
        if has_content is None:
            raise CsvRejected(_DAMAGED)
    else:
        for encoding in ("utf-8", "cp1252", "latin-1"):
            has_content = _scan_stream(binary, encoding, forbid_nul=True)
            if has_content is not None:
                break
    if not has_content:
        raise CsvRejected(EMPTY_FILE)
    binary.seek(0)
    sample = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head)
    _refuse_control_characters(sample)
    return encoding


def _scan_stream(binary: BinaryIO, encoding: str, *, forbid_nul: bool) -> bool | None:
    """None if the file does not decode, else whether it holds non-blank text."""
    decoder = codecs.getincrementaldecoder(encoding)()
    binary.seek(0)
    has_content = False
    try:
        while chunk := binary.read(_CHUNK_BYTES):
            if forbid_nul and b"\x00" in chunk:
                raise CsvRejected(NOT_CSV)
            text = decoder.decode(chunk)
            if not has_content and text.strip():
                has_content = True
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    return has_content


# --- The csv module's field size limit --------------------------------------

_limit_lock = threading.Lock()
_limit_readers = 0
_limit_saved = 0


@contextmanager
def _field_size_limit_at_least(size: int) -> Iterator[None]:
    """Raise ``csv.field_size_limit`` to ``size`` while any read is running."""
    global _limit_readers, _limit_saved
    size = min(size, sys.maxsize)
    with _limit_lock:
        current = csv.field_size_limit()
        if _limit_readers == 0:
            _limit_saved = current
        _limit_readers += 1
        if current < size:
            csv.field_size_limit(size)
    try:
        yield
    finally:
        with _limit_lock:
            _limit_readers -= 1
            if _limit_readers == 0:
                csv.field_size_limit(_limit_saved)


# --- Reading ----------------------------------------------------------------

_DELIMITERS = (",", ";", "\t", "|")
_SNIFF_CHARS = 4096  # Sniffer's regular expressions slow down badly on big samples


def read_csv(
    data: bytes | str,
    *,
    fields: tuple[str, ...],
    aliases: Mapping[str, str],
    required: RequiredHeadings,
    max_rows: int | None,
    max_cell_chars: int = DEFAULT_MAX_CELL_CHARS,
    mapping: HeaderMapping = "exact",
    keep_cells: bool = False,
) -> ParsedCsv:
    """Read an uploaded CSV held in memory (bytes, or text already decoded).

    ``fields`` are the field names (each also accepted as its own heading);
    ``aliases`` maps heading text (normalised as by ``normalise_heading``) to a
    field; ``required`` is a set of fields that must have a column, or a
    callable given the mapped fields that returns a refusal message or None;
    the default is the contact rule, ``missing_contact_headings``, so pass
    another (an empty set for none) with other fields. ``max_rows`` caps the
    data rows (None: no cap).

    ``mapping`` says how headings become fields: "exact" (headings and
    aliases as ``map_header`` reads them; two columns meaning one field
    refuse the file), "proposed" (``propose_mapping``: exact, then fuzzy; a
    second column meaning a field is left unmapped, for the member to
    confirm), or a confirmed mapping, column index -> field, used as it is.
    ``keep_cells`` keeps every cell of each row (``ParsedRow.cells``), for
    writing the file back with columns added.

    The whole file is parsed once before returning, without keeping the rows,
    so ``row_count`` is set and broken quoting is refused here; iterating the
    result parses it again, lazily.

    Raises ``CsvRejected`` for an empty or non-text file, broken quoting, no
    recognised heading, two columns meaning the same field, a required column
    missing, no data rows, or more than ``max_rows`` data rows.
    """
    return _read(
        _memory_source(data),
        fields=fields,
        aliases=aliases,
        required=required,
        max_rows=max_rows,
        max_cell_chars=max_cell_chars,
        count_rows=True,
        mapping=mapping,
        keep_cells=keep_cells,
    )


def stream_csv(
    source: str | os.PathLike[str] | BinaryIO | TextIO,
    *,
    fields: tuple[str, ...],
    aliases: Mapping[str, str],
    required: RequiredHeadings,
    max_rows: int | None,
    max_cell_chars: int = DEFAULT_MAX_CELL_CHARS,
    mapping: HeaderMapping = "exact",
    keep_cells: bool = False,
) -> ParsedCsv:
    """Read a CSV file from a path or a seekable file without holding it in memory.

    Same rules, parameters and refusals as ``read_csv``. A binary file is
    decoded by the same rules as ``decode_csv_bytes`` (one pass over the bytes
    decides the encoding); a text file is taken as it is. Before returning it
    reads the heading row and looks for a first data row; with ``max_rows`` it
    also counts all rows (one more parse). Iterating the result reads the file
    again from the start each time; a file object is left open.

    Raises ``CsvRejected`` as ``read_csv`` does, except that broken quoting
    further down is raised from the row iterator when ``max_rows`` is None.
    Raises ``ValueError`` for a file object that cannot seek.
    """
    return _read(
        _stream_source(source),
        fields=fields,
        aliases=aliases,
        required=required,
        max_rows=max_rows,
        max_cell_chars=max_cell_chars,
        count_rows=max_rows is not None,
        mapping=mapping,
        keep_cells=keep_cells,
    )


def map_header(
    cells: Sequence[str], *, fields: tuple[str, ...], aliases: Mapping[str, str]
) -> CsvHeader:
    """Map heading texts onto fields, without refusing anything."""
    alias_map = _alias_map(fields, aliases)
    header = CsvHeader(columns={})
    for index, cell in enumerate(cells):
        text = _clean_heading(cell)
        if not text:
            continue
        mapped = alias_map.get(normalise_heading(text))
        if mapped is None:
            header.unmapped.append(text)
        elif mapped in header.columns.values():
            header.duplicates.append(text)
        else:
            header.columns[index] = mapped
    return header


def propose_mapping(
    cells: Sequence[str], *, fields: tuple[str, ...], aliases: Mapping[str, str]
) -> CsvHeader:
    """Map heading texts onto fields for a member to confirm.

    Exact headings and aliases first (as ``map_header``); then each heading
    left over maps to the field of its closest alias, from a rapidfuzz ratio
    of ``FUZZY_HEADING_CUTOFF``. A field takes its first column; later ones
    are listed in ``duplicates`` and left unmapped.
    """
    alias_map = _alias_map(fields, aliases)
    keys = list(alias_map)
    header = map_header(cells, fields=fields, aliases=aliases)
    header.duplicates = []
    taken = set(header.columns.values())
    unmapped = []
    for index, cell in enumerate(cells):
        text = _clean_heading(cell)
        if not text or index in header.columns:
            continue
        key = normalise_heading(text)
        meaning = alias_map.get(key)
        if meaning is None and key:
            best = process.extractOne(
                key, keys, scorer=fuzz.ratio, score_cutoff=FUZZY_HEADING_CUTOFF
            )
            meaning = alias_map[best[0]] if best else None
        if meaning is None:
            unmapped.append(text)
        elif meaning in taken:
            header.duplicates.append(text)
        else:
            header.columns[index] = meaning
            taken.add(meaning)
    header.unmapped = unmapped
    header.columns = dict(sorted(header.columns.items()))
    return header


def _map(
    cells: Sequence[str],
    fields: tuple[str, ...],
    aliases: Mapping[str, str],
    mapping: HeaderMapping,
) -> CsvHeader:
    if mapping == "exact":
        header = map_header(cells, fields=fields, aliases=aliases)
    elif mapping == "proposed":
        header = propose_mapping(cells, fields=fields, aliases=aliases)
    elif isinstance(mapping, Mapping):
        unknown = sorted(set(mapping.values()) - set(fields))
        if unknown:
            raise ValueError(f"not fields: {', '.join(unknown)}")
        header = CsvHeader(
            columns={i: f for i, f in sorted(mapping.items()) if i < len(cells)}
        )
        header.unmapped = [
            _clean_heading(cell)
            for i, cell in enumerate(cells)
            if i not in header.columns and _clean_heading(cell)
        ]
    else:
        raise ValueError(f"unknown mapping {mapping!r}")
    header.cells = [_clean_heading(cell) for cell in cells]
    return header


def _alias_map(fields: tuple[str, ...], aliases: Mapping[str, str]) -> dict[str, str]:
    alias_map = {
        normalise_heading(text): name
        for text, name in aliases.items()
        if name in fields
    }
    alias_map.update((normalise_heading(name), name) for name in fields)
    return alias_map


def _clean_heading(cell: str) -> str:
    return cell.strip().strip("\ufeff\"'").strip()


def _read(
    source: _Source,
    *,
    fields: tuple[str, ...],
    aliases: Mapping[str, str],
    required: RequiredHeadings,
    max_rows: int | None,
    max_cell_chars: int,
    count_rows: bool,
    mapping: HeaderMapping,
    keep_cells: bool,
) -> ParsedCsv:
    alias_map = _alias_map(fields, aliases)
    with _field_size_limit_at_least(source.max_chars + 1):
        with source.open() as stream:
            sample = stream.read(_SAMPLE_CHARS)
        delimiter = _choose_delimiter(sample, alias_map)
        with source.open() as stream:
            reader = _reader(stream, delimiter)
            header_number, header_cells = _heading_record(reader)
            header = _map(header_cells, fields, aliases, mapping)
            _check_header(header, header_cells, fields, alias_map, required)
            if count_rows:
                row_count: int | None = _count_rows(reader, header_number)
                has_rows = bool(row_count)
            else:
                row_count = None
                has_rows = bool(_count_rows(reader, header_number, stop_after=1))
    if not has_rows:
        raise CsvRejected(
            "The file has headings but no rows. Add one row per record under the "
            "headings and upload again."
        )
    if max_rows is not None and row_count is not None and row_count > max_rows:
        raise CsvRejected(
            f"This file has {row_count:,} rows; the most one file may hold is "
            f"{max_rows:,}. Split it and upload the parts."
        )
    rows = partial(
        _iter_rows,
        source,
        delimiter,
        header_number,
        dict(header.columns),
        max_cell_chars,
        keep_cells,
    )
    return ParsedCsv(header, source.encoding, delimiter, row_count, rows)


def _reader(stream: TextIO, delimiter: str) -> Iterator[list[str]]:
    return csv.reader(
        stream,
        delimiter=delimiter,
        quotechar='"',
        doublequote=True,
        skipinitialspace=True,
        strict=True,
    )


def _is_blank(cells: list[str]) -> bool:
    joined = "".join(cells)
    return not joined or joined.isspace()


def _heading_record(reader: Iterator[list[str]]) -> tuple[int, list[str]]:
    """The first non-blank record and its row number; none refuses the file."""
    number = 0
    try:
        for cells in reader:
            number += 1
            if not _is_blank(cells):
                return number, cells
    except csv.Error as error:
        raise _unreadable(error, number + 1) from None
    raise CsvRejected(EMPTY_FILE)


def _count_rows(
    reader: Iterator[list[str]], number: int, *, stop_after: int | None = None
) -> int:
    """Count the non-blank records after row ``number``, up to ``stop_after``."""
    count = 0
    try:
        for cells in reader:
            number += 1
            joined = "".join(cells)
            if joined and not joined.isspace():
                count += 1
                if count == stop_after:
                    break
    except csv.Error as error:
        raise _unreadable(error, number + 1) from None
    return count


def _unreadable(error: csv.Error, number: int) -> CsvRejected:
    reason = str(error)
    if "unexpected end of data" in reason:
        return CsvRejected(
            f'Row {number:,} has a quote mark (") that is never closed, so the '
            "rest of the file cannot be read. Close or remove that quote mark and "
            "upload again."
        )
    if "expected after" in reason:
        return CsvRejected(
            f'Row {number:,} has text straight after a closing quote mark ("). '
            "Put the whole cell in quotes, or remove the quote marks, and upload "
            "again."
        )
    return CsvRejected(
        f"Row {number:,} could not be read as CSV ({reason}). Fix that row and "
        "upload again."
    )


def _choose_delimiter(sample: str, alias_map: Mapping[str, str]) -> str:
    scores: dict[str, int] = {}
    for delimiter in _DELIMITERS:
        reader = csv.reader(
            io.StringIO(sample, newline=""), delimiter=delimiter, skipinitialspace=True
        )
        try:
            heading = next((cells for cells in reader if not _is_blank(cells)), [])
        except csv.Error:
            heading = []
        mapped = {alias_map.get(normalise_heading(cell)) for cell in heading}
        scores[delimiter] = len(mapped - {None})
    best = max(scores.values())
    tied = [delimiter for delimiter in _DELIMITERS if scores[delimiter] == best]
    if len(tied) == 1:
        return tied[0]
    sniff_sample = sample[:_SNIFF_CHARS]
    if len(sample) > _SNIFF_CHARS and "\n" in sniff_sample:
        sniff_sample = sniff_sample[: sniff_sample.rindex("\n")]
    try:
        return csv.Sniffer().sniff(sniff_sample, delimiters="".join(tied)).delimiter
    except csv.Error:
        return tied[0]


def _check_header(
    header: CsvHeader,
    cells: list[str],
    fields: tuple[str, ...],
    alias_map: Mapping[str, str],
    required: RequiredHeadings,
) -> None:
    if not header.columns:
        if any("@" in cell or _looks_numeric(cell) for cell in cells):
            raise CsvRejected(
                "The first row looks like data, not headings. Add a first row with "
                f"these headings: {', '.join(fields)}."
            )
        raise CsvRejected(
            "None of the column headings were recognised. Use these headings: "
            f"{', '.join(fields)}."
        )
    if header.duplicates:
        meaning = alias_map[normalise_heading(header.duplicates[0])]
        texts = [
            _clean_heading(cells[index])
            for index, name in header.columns.items()
            if name == meaning
        ] + [
            text
            for text in header.duplicates
            if alias_map[normalise_heading(text)] == meaning
        ]
        quoted = [f"'{text}'" for text in texts]
        if len(quoted) == 2:
            lead = f"Two columns both mean {meaning}: {quoted[0]} and {quoted[1]}."
        else:
            listed = ", ".join(quoted[:-1]) + f" and {quoted[-1]}"
            lead = f"{len(quoted)} columns all mean {meaning}: {listed}."
        raise CsvRejected(
            f"{lead} Keep one of them, delete the others and upload again."
        )
    found = set(header.columns.values())
    if callable(required):
        message = required(found)
    else:
        missing = [name for name in fields if name in required and name not in found]
        message = missing_message(missing) if missing else None
    if message:
        raise CsvRejected(message)


def _looks_numeric(cell: str) -> bool:
    return bool(_NUMERIC.fullmatch(cell.strip()))


_NUMERIC = re.compile(r"[+-]?[0-9][0-9 .,()/-]*")

# --- Row checks ---------------------------------------------------------------

_FORMULA_STARTS = frozenset(("=", "@", "+", "-", "\t", "\r"))
_ALWAYS_FORMULA = frozenset(("=", "@", "\t", "\r"))
# After a leading + or -, digits with phone-number punctuation are data
# ("+44 20 7946 0958", "-12.5", "-"); anything else, an operator or a letter,
# is what a spreadsheet would evaluate.
_PLAIN_AFTER_SIGN = re.compile(r"[0-9\s().,/-]*")
_STARTER_NAMES = {"\t": "a tab", "\r": "a carriage return"}


def looks_like_formula(value: str) -> bool:
    """Whether a spreadsheet could take ``value`` for a formula.

    True when it starts with "=", "@", a tab or a carriage return, or with "+"
    or "-" followed by anything but digits, spaces and ``( ) . , / -`` (so
    "+44 20 7946 0958" and "-" are data, "-2+3" and "+cmd|' /C calc'!A0" are
    formulas).
    """
    first = value[:1]
    if first in _ALWAYS_FORMULA:
        return True
    if first in ("+", "-"):
        return _PLAIN_AFTER_SIGN.fullmatch(value, 1) is None
    return False


def _any_formula(values: tuple[str, ...]) -> bool:
    # looks_like_formula inlined: most contact files have a phone column of
    # "+44 ..." numbers, so this runs for nearly every row of them.
    for value in values:
        first = value[:1]
        if first in _FORMULA_STARTS and (
            first in _ALWAYS_FORMULA or _PLAIN_AFTER_SIGN.fullmatch(value, 1) is None
        ):
            return True
    return False


def _label(name: str) -> str:
    return name.replace("_", " ")


def _row_problem(
    names: tuple[str, ...],
    values: tuple[str, ...],
    max_cell_chars: int,
    *,
    long: bool,
    nul: bool,
    formula: bool,
) -> str | None:
    for name, value in zip(names, values, strict=True):
        if long and len(value) > max_cell_chars:
            return (
                f"The {_label(name)} cell is {len(value):,} characters long; the "
                f"most a cell may hold is {max_cell_chars:,}."
            )
        if nul and "\x00" in value:
            return (
                f"The {_label(name)} cell holds a hidden NUL character, which cannot "
                "be stored; retype the cell and upload again."
            )
        if formula and looks_like_formula(value):
            starter = _STARTER_NAMES.get(value[0], f"'{value[0]}'")
            return (
                f"The {_label(name)} cell starts with {starter} and looks like a "
                "spreadsheet formula; remove it and upload again."
            )
    return None


def _iter_rows(
    source: _Source,
    delimiter: str,
    header_number: int,
    columns: dict[int, str],
    max_cell_chars: int,
    keep_cells: bool,
) -> Iterator[ParsedRow]:
    with _field_size_limit_at_least(source.max_chars + 1), source.open() as stream:
        reader = _reader(stream, delimiter)
        for _ in range(header_number):
            next(reader)
        yield from _parse_rows(
            reader,
            header_number,
            columns,
            max_cell_chars,
            source.may_hold_nul,
            keep_cells,
        )


def _parse_rows(
    reader: Iterator[list[str]],
    number: int,
    columns: dict[int, str],
    max_cell_chars: int,
    may_hold_nul: bool,
    keep_cells: bool = False,
) -> Iterator[ParsedRow]:
    # The hot loop of a million-row import: per row, C-level calls only
    # unless a cheap test says a closer look is needed.
    indices = tuple(columns)
    names = tuple(columns.values())
    width = max(indices) + 1
    padding = [""] * width
    if len(indices) == 1:
        only = indices[0]

        def pick(cells: list[str]) -> tuple[str, ...]:
            return (cells[only],)

    else:
        pick = itemgetter(*indices)
    first_char = itemgetter(slice(0, 1))
    strip = str.strip
    starts = _FORMULA_STARTS
    try:
        for cells in reader:
            number += 1
            joined = "".join(cells)
            if not joined or joined.isspace():
                continue
            if len(cells) < width:
                cells.extend(padding[len(cells) :])
            values = tuple(map(strip, pick(cells)))
            long = len(joined) > max_cell_chars
            nul = may_hold_nul and "\x00" in joined
            formula = False
            if not starts.isdisjoint(map(first_char, values)):
                formula = _any_formula(values)
            problem = None
            if long or nul or formula:
                problem = _row_problem(
                    names, values, max_cell_chars, long=long, nul=nul, formula=formula
                )
            yield ParsedRow(
                number,
                dict(zip(names, values, strict=True)),
                problem,
                cells if keep_cells else None,
            )
    except csv.Error as error:
        raise _unreadable(error, number + 1) from None


# --- Writing ------------------------------------------------------------------

_CHUNK_CHARS = 65_536


def formula_escape(value: object) -> str:
    """Return ``value`` as cell text that no spreadsheet will run as a formula,
    changing nothing a spreadsheet would not run.

    None is "". Following OWASP's CSV injection advice, text gets a leading
    apostrophe when it starts with a tab, a carriage return or NUL, or (after
    any leading spaces) with "=" or "@", or with "+" or "-" followed by
    anything but digits and phone punctuation (spaces and ``( ) . , / -``).
    So "+14048359068", "+44 20 7946 0958", "-12.5" and "-" reach a CRM as
    they are (a sign and digits compute nothing), while "-2+3", "+cmd|..."
    and "=HYPERLINK(...)" are escaped: the same test ``looks_like_formula``
    applies to uploads. Numbers (int, float, Decimal) are written as they
    are.
    """
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal):
        return str(value)
    text = value if isinstance(value, str) else str(value)
    if _would_run(text) or _would_run(text.lstrip()):
        return "'" + text
    return text


def _would_run(text: str) -> bool:
    # A leading NUL too: some spreadsheets drop it and read what follows as
    # the cell's start.
    return text[:1] == "\0" or looks_like_formula(text)


def iter_csv(
    header: Sequence[object], rows: Iterable[Sequence[object]]
) -> Iterator[str]:
    """Yield a CSV download in chunks of about 64 KB, for a streamed response.

    Comma-separated, RFC 4180 quoting (a cell is quoted when it holds a comma,
    a quote mark or a line break; quote marks are doubled), ``\\r\\n`` after
    every row, every cell (heading row included) passed through
    ``formula_escape``. The text is not encoded: send it as UTF-8 ("utf-8-sig"
    if Excel users must see accents right).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(map(formula_escape, header))
    for row in rows:
        writer.writerow(map(formula_escape, row))
        if buffer.tell() >= _CHUNK_CHARS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def write_csv(header: Sequence[object], rows: Iterable[Sequence[object]]) -> str:
    """Return a whole CSV download as text; the same output as ``iter_csv``."""
    return "".join(iter_csv(header, rows))
