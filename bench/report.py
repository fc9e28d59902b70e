"""Printing benchmark figures as right-aligned columns."""

from __future__ import annotations

from collections.abc import Sequence


def print_columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print ``header`` and ``rows`` (all cells already text), each column
    right-aligned to its widest cell."""
    widths = [max(len(c) for c in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
