"""Reading the CSV files people bring (ledgers, results): one way, shared.

UTF-8 with or without BOM; ``strict`` parsing, so a quote left open is an error on its
line instead of silently swallowing the rest of the file into one cell; every record
comes with the line it starts on (blank lines and multi-line cells counted), which is
what people see in their editor.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Iterator

from db.errors import BadInput

#: csv's own limit is 128 KiB per field; nothing we read needs more than this.
FIELD_LIMIT = 64 * 1024


def is_file(path) -> bool:
    """``Path.is_file``, but False (not OSError) for a name the system refuses outright,
    such as one longer than it allows."""
    from pathlib import Path

    try:
        return Path(path).is_file()
    except OSError:
        return False


def text_of(data: bytes) -> str:
    """The file's text; refuses what is not UTF-8 text."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(f"the file is not UTF-8 text (undecodable byte at offset {exc.start}); "
                       "save it as CSV UTF-8 and try again") from None
    if "\x00" in text:
        raise BadInput("the file contains NUL bytes; it is not a CSV text file")
    return text


#: Dates people type or write in a file: outside these years a date is a typo (and far
#: enough from the ends of Python's calendar that date arithmetic cannot overflow).
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2100, 12, 31)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_day(value: str, what: str) -> dt.date:
    """A date written YYYY-MM-DD between 1900 and 2100, else BadInput naming ``what``.

    The value itself is not repeated: a shifted CSV cell can hold a phone number.
    """
    text = value.strip()
    try:
        if not _DAY.fullmatch(text):
            raise ValueError
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{what} is not a date YYYY-MM-DD") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadInput(f"{what} {day} is not a possible date (years 1900 to 2100)")
    return day


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: What a phone number may be made of (digits, spaces, + - ( ) . # * / x).
PHONE_SHAPE = re.compile(r"^[0-9 +\-().#*/x]*$")
#: Control characters refused in any text we store: C0 except tab and newline, DEL, and
#: C1 (U+0080–U+009F, where U+009B starts a terminal escape just as ESC [ does).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe_cell(value, *, phone: bool = False):
    """A value for a CSV cell that a spreadsheet will not run as a formula: text starting
    with = + - @ tab or CR gets a leading apostrophe (the ledger import takes it off again),
    except a phone number's + or - in a phone column. Other types pass unchanged."""
    if not isinstance(value, str) or not value or value[0] not in FORMULA_START \
            or value == "-":
        return value
    if phone and value[0] in "+-" and PHONE_SHAPE.match(value):
        return value
    return "'" + value


def records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line, values) for every record, the header first (line 1).

    A malformed record raises `csv.Error` with ``line`` set on it.
    """
    csv.field_size_limit(FIELD_LIMIT)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            exc.line = start
            raise
        yield start, values
