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


def digits_up_to(limit: int) -> str:
    """A regex for the digit strings (leading zeros allowed, at most as many
    digits as ``limit`` has) whose value is at most ``limit``.

    Out-of-range ids then fail the rule's pattern rather than its converter:
    Werkzeug answers a converter's refusal with 405 when another rule on the
    same path takes a different method, but an unmatched path is always 404.
    """
    top = str(limit)
    # Shorter strings are always in range; a string of the same length is in
    # range when it is lexicographically at most ``top``.
    choices = [f"[0-9]{{1,{len(top) - 1}}}"] if len(top) > 1 else []
    for i, digit in enumerate(top):
        if digit != "0":
            rest = len(top) - i - 1
            tail = f"[0-9]{{{rest}}}" if rest else ""
            choices.append(f"{top[:i]}[0-{int(digit) - 1}]{tail}")
    choices.append(top)
    return "(?:" + "|".join(choices) + ")"


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` limited to ASCII digits and the id columns' range.

    The pattern itself bounds the value (see ``digits_up_to``), so a path of
    thousands of digits is never handed to ``int()`` and an id past the range
    is a 404 whatever other rules share the path.
    """

    regex = digits_up_to(MAX_ID)

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits, min, max, signed)


def init_app(app: Flask) -> None:
    """Register before any blueprint: rules pick their converter when added."""
    app.url_map.converters["int"] = BoundedIntConverter
