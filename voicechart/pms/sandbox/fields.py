"""Request values read the way the sandbox API validates them: anything out of shape is a 400 with a message.

Every number, key, string and date that a request carries goes through one of these readers before it reaches
the database, so that no value can make SQLite or MariaDB fail (a 500): keys fit a signed bigint, counts are
not negative, strings are text that fits the column and encodes as UTF-8.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from starlette.requests import Request

from voicechart.errors import PmsRejected

BIGINT_MAX = 2**63 - 1
"""The largest bigint(20): no Open Dental key or number can be larger."""

TEXT_MAX_BYTES = 65_535
"""MySQL's TEXT column holds at most this many bytes."""


def number(value: object, field: str, *, low: int = -BIGINT_MAX - 1, high: int = BIGINT_MAX) -> int:
    """A whole number (JSON number or digit string) between `low` and `high`."""
    parsed = _whole_number(value)
    if parsed is None:
        raise PmsRejected(f"{field} must be a whole number.")
    if not low <= parsed <= high:
        raise PmsRejected(f"{field} must be between {low} and {high}.")
    return parsed


def key(value: object, field: str) -> int:
    """A primary or foreign key: a whole number that fits a bigint(20)."""
    return number(value, field)


def count(value: object, field: str) -> int:
    """A paging count (Offset, Limit): a whole number, not negative."""
    return number(value, field, low=0)


def path_key(request: Request, field: str) -> int:
    """The key in the URL (`/patients/{PatNum}`); a 400 when it is not a whole number that fits a bigint(20).

    sandbox: Open Dental documents only "Required in the URL"; a key that cannot exist is a bad request.
    """
    return key(request.path_params["num"], f"{field} in the URL")


def text(value: object, field: str, column: sa.Column[Any]) -> str:
    """A JSON string that encodes as UTF-8 and fits `column` (its varchar length, or TEXT's 65,535 bytes)."""
    if not isinstance(value, str):
        raise PmsRejected(f"{field} must be a string.")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise PmsRejected(f"{field} is not valid Unicode text.") from None
    length = getattr(column.type, "length", None)
    if length is not None and len(value) > length:
        raise PmsRejected(f"{field} is too long (at most {length} characters).")
    if length is None and size > TEXT_MAX_BYTES:
        raise PmsRejected(f"{field} is too long (at most {TEXT_MAX_BYTES} bytes).")
    return value


def flag(value: object, field: str) -> bool:
    """A boolean sent as Open Dental sends it: "true"/"false" (a JSON boolean is accepted too)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise PmsRejected(f'{field} must be "true" or "false".')


def _whole_number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        digits = value.strip()
        unsigned = digits[1:] if digits[:1] in ("-", "+") else digits
        if unsigned.isascii() and unsigned.isdigit() and len(unsigned) <= 25:
            return int(digits)
    return None
