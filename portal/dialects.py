"""Where Tessera's two databases, SQLite and PostgreSQL (psycopg 3), differ.

- ``insert_for``: the dialect's INSERT construct, the one with
  ``on_conflict_do_nothing``.
- ``in_values``: ``column IN (values)`` for thousands of values, sent as one
  bound parameter (an array; a JSON list on SQLite) rather than one each,
  which both SQLAlchemy and psycopg take milliseconds per thousand to render.
- ``bulk_writer``: rows straight through the driver's fast path (``executemany``
  on sqlite3, ``COPY`` on psycopg) for loads of a million rows, which the ORM
  and SQLAlchemy's ``executemany`` are several times too slow for; plus the
  stored text form of timestamps and ids handed out ahead of a load.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    any_,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

_DAY = 86400


def insert_for(bind: Connection | Engine):
    """The ``insert`` of ``bind``'s dialect (PostgreSQL's or SQLite's)."""
    return pg_insert if bind.dialect.name == "postgresql" else sqlite_insert


def in_values(
    bind: Connection | Engine, column: ColumnElement, values: Iterable[str | int]
) -> ColumnElement[bool]:
    """``column IN (values)`` as one bound parameter, whatever the count."""
    if bind.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    listed = func.json_each(bindparam(None, json.dumps(list(values)))).table_valued(
        "value"
    )
    return column.in_(select(listed.c.value))


class BulkWriter:
    """Bulk inserts on the driver connection behind ``conn``.

    ``timestamp`` renders epoch seconds the way SQLAlchemy's ``UTCDateTime``
    would store them, so the ORM reads back aware UTC datetimes.
    """

    # What follows the seconds in the stored text.
    time_suffix = ""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._days: dict[int, str] = {}

    def timestamp(self, epoch: int) -> str:
        day, second = divmod(epoch, _DAY)
        date = self._days.get(day)
        if date is None:
            date = self._days[day] = datetime.fromtimestamp(day * _DAY, UTC).strftime(
                "%Y-%m-%d"
            )
        hour, rest = divmod(second, 3600)
        return f"{date} {hour:02d}:{rest // 60:02d}:{rest % 60:02d}{self.time_suffix}"

    def insert(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        raise NotImplementedError

    def next_ids(self, table: str, count: int) -> list[int]:
        """``count`` unused ids for ``table``'s integer ``id`` column, ascending.

        On SQLite the transaction must hold the write lock (BEGIN IMMEDIATE)
        until the rows are in, or another writer may take the same ids.
        """
        raise NotImplementedError


class _SQLiteWriter(BulkWriter):
    # SQLAlchemy's SQLite DATETIME format: naive UTC with microseconds.
    time_suffix = ".000000"

    def insert(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608
            f"VALUES ({', '.join('?' for _ in columns)})"
        )
        cursor = self.conn.connection.driver_connection.cursor()
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()

    def next_ids(self, table: str, count: int) -> list[int]:
        # Tables without AUTOINCREMENT take max(id) + 1 next, so ids past the
        # current maximum are free while this transaction holds the lock.
        top = self.conn.scalar(select(func.max(text("id"))).select_from(text(table)))
        start = (top or 0) + 1
        return list(range(start, start + count))


class _PostgresWriter(BulkWriter):
    time_suffix = "+00"

    def insert(self, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
        driver = self.conn.connection.driver_connection
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            # psycopg escapes each row for COPY in C (psycopg-binary).
            for row in rows:
                copy.write_row(row)

    def next_ids(self, table: str, count: int) -> list[int]:
        # Taken from the column's own sequence: concurrent inserts never clash.
        ids = self.conn.scalars(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                "FROM generate_series(1, :count)"
            ),
            {"table": table, "count": count},
        )
        return sorted(ids)


def bulk_writer(conn: Connection) -> BulkWriter:
    """The bulk writer for ``conn``'s database.

    Raises ``NotImplementedError`` for anything but SQLite and PostgreSQL with
    psycopg 3.
    """
    dialect = conn.dialect
    if dialect.name == "sqlite":
        return _SQLiteWriter(conn)
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        return _PostgresWriter(conn)
    raise NotImplementedError(
        f"bulk loads go into SQLite or PostgreSQL with psycopg 3, "
        f"not {dialect.name}+{dialect.driver}"
    )
