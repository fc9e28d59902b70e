"""Pagination of a select statement, tolerant of bad page numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import Select, func, select

from portal.extensions import db


@dataclass(frozen=True)
class Page:
    items: list[Any]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def paginate(
    statement: Select,
    raw_page: str | None,
    size: int | None = None,
    *,
    scalars: bool = True,
) -> Page:
    """Fetch one page of ``statement``; a missing, bad or too-large page number
    gives the nearest real page rather than an error. ``scalars=False`` keeps
    whole rows, for statements selecting more than one thing."""
    size = size or current_app.config["PAGE_SIZE"]
    total = db.session.scalar(
        select(func.count()).select_from(statement.order_by(None).subquery())
    )
    try:
        number = int(raw_page or 1)
    except ValueError:
        number = 1
    pages = max(1, -(-(total or 0) // size))
    number = min(max(1, number), pages)
    page_statement = statement.limit(size).offset((number - 1) * size)
    result = db.session.execute(page_statement)
    items = result.scalars().all() if scalars else result.all()
    return Page(items=list(items), number=number, size=size, total=total or 0)
