"""URL converters: integer ids in paths are bounded where they are parsed.

Every id column is a 64-bit signed integer at most, and SQLite refuses larger
Python ints outright (``OverflowError``), so an id outside that range can name
nothing: the route does not match and the answer is an ordinary 404.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter

MAX_ID = 2**63 - 1


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` limited to ASCII digits and the 64-bit signed range.

    The regex caps the length too, so a path of thousands of digits is never
    handed to ``int()``.
    """

    regex = r"[0-9]{1,19}"

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits, min, max, signed)


def init_app(app: Flask) -> None:
    """Register before any blueprint: rules pick their converter when added."""
    app.url_map.converters["int"] = BoundedIntConverter
