"""URL converters: integer ids in paths are bounded where they are parsed.

Every id column is an ``Integer``: 32-bit on PostgreSQL (a larger parameter is
"integer out of range") and refused outright past 64 bits by SQLite
(``OverflowError``). An id outside the 32-bit range can name nothing, so the
route does not match and the answer is an ordinary 404. A table that moves to
``BigInteger`` ids raises ``MAX_ID`` with it.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` limited to ASCII digits and the id columns' range.

    The regex caps the length too, so a path of thousands of digits is never
    handed to ``int()``.
    """

    regex = r"[0-9]{1,10}"

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits, min, max, signed)


def init_app(app: Flask) -> None:
    """Register before any blueprint: rules pick their converter when added."""
    app.url_map.converters["int"] = BoundedIntConverter
