"""Reading the CSV files people bring (ledgers, results): one way, shared.

UTF-8 with or without BOM; ``strict`` parsing, so a quote left open is an error on its
line instead of silently swallowing the rest of the file into one cell; every record
comes with the line it starts on (blank lines and multi-line cells counted), which is
what people see in their editor.
"""

from __future__ import annotations

import csv
import io
from typing import Iterator

from db.errors import BadInput

#: csv's own limit is 128 KiB per field; nothing we read needs more than this.
FIELD_LIMIT = 64 * 1024


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
