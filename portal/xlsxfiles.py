"""Writing spreadsheet (.xlsx) downloads.

Every cell is written as text, in a column formatted as text: a spreadsheet
never evaluates it, so nothing needs escaping and "+14048359068" or
"=notes" reach a CRM exactly as they were. The heading row is bold and
frozen. Rows are streamed to a temporary file (XlsxWriter's constant-memory
mode), so a large export does not sit in memory as cells.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

import xlsxwriter

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Excel's limit for one cell's text.
MAX_CELL_CHARS = 32_767


def _text(value: object) -> str:
    if value is None:
        return ""
    return str(value)[:MAX_CELL_CHARS]


def write_xlsx(
    header: Sequence[object],
    rows: Iterable[Sequence[object]],
    *,
    sheet: str = "Contacts",
) -> bytes:
    """Return a one-sheet workbook: ``header`` then ``rows``, every cell text.

    None is an empty cell; text longer than Excel allows is cut to
    ``MAX_CELL_CHARS``.
    """
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        buffer, {"constant_memory": True, "in_memory": False}
    )
    text = workbook.add_format({"num_format": "@"})
    bold = workbook.add_format({"num_format": "@", "bold": True})
    worksheet = workbook.add_worksheet(sheet)
    worksheet.set_column(0, max(len(header) - 1, 0), 22, text)
    worksheet.freeze_panes(1, 0)
    for column, name in enumerate(header):
        worksheet.write_string(0, column, _text(name), bold)
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            worksheet.write_string(number, column, _text(value), text)
    workbook.close()
    return buffer.getvalue()
