"""Reading the CSV files people bring (ledgers, results): one way, shared.

UTF-8 with or without BOM (a ledger may also be GB18030/GBK, what Chinese Excel's plain
"CSV" saves, when the person says so: the encoding is never guessed, because Latin-1 text
decodes as GBK too, into the wrong characters); ``strict`` parsing, so a quote left open is an error on its
line instead of silently swallowing the rest of the file into one cell; every record
comes with the line it starts on (blank lines and multi-line cells counted), which is
what people see in their editor.
"""

from __future__ import annotations

import csv
import io
import os
import stat
from typing import Iterator

from outreach.db.errors import BadInput, one_line
from outreach.i18n import N_, _
from outreach.tasks.kernel.rules import PHONE_SHAPE

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


#: What a path that is there but is not a file is, in words (`must_be_file`), by the test
#: of its mode.
_NOT_A_FILE = (
    (stat.S_ISDIR, N_("{path} is a folder, not a file")),
    (stat.S_ISFIFO, N_("{path} is a pipe (FIFO), not a file")),
    (stat.S_ISCHR, N_("{path} is a device, not a file")),
    (stat.S_ISBLK, N_("{path} is a device, not a file")),
    (stat.S_ISSOCK, N_("{path} is a socket, not a file")),
)


def must_be_file(path) -> None:
    """Refuse (`BadInput`) a path that is not a regular file (a symbolic link counts as
    what it points to), saying what it is — missing, a folder, a pipe, a device, a socket —
    in one line, the path shown on one line (`db.errors.one_line`). Nothing is opened (a
    pipe's writer is never waited for)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):  # missing, a dangling link, a name the system refuses
        raise BadInput(_("no such file: {path}").format(path=one_line(path))) from None
    if stat.S_ISREG(mode):
        return
    shown = one_line(path)
    for test, words in _NOT_A_FILE:
        if test(mode):
            raise BadInput(_(words).format(path=shown))
    raise BadInput(_("{path} is not a file").format(path=shown))


#: The encodings a person may name for a CSV file (`text_of`): UTF-8, and GB18030, the
#: superset of GBK that Chinese Excel's plain "CSV" is written in.
ENCODINGS = {"utf-8": "utf-8-sig", "utf8": "utf-8-sig", "gb18030": "gb18030",
             "gbk": "gb18030", "gb2312": "gb18030"}


def check_encoding(name: str) -> str:
    """The codec for an encoding a person named (``--encoding``), or BadInput."""
    codec = ENCODINGS.get(name.strip().lower().replace("_", "-"))
    if codec is None:
        raise BadInput(_("unknown encoding {name}: use utf-8 or gb18030").format(name=name))
    return codec


def text_of(data: bytes, encoding: str = "utf-8", *, hint: bool = False) -> str:
    """The file's text in the named encoding (UTF-8 unless told; see `ENCODINGS`); refuses
    what does not decode. With ``hint`` the refusal of a UTF-8 file also names the
    ``--encoding gb18030`` option (the commands that have it)."""
    codec = check_encoding(encoding)
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        if codec != "utf-8-sig":
            raise BadInput(_("the file is not {encoding} text (undecodable byte at offset "
                             "{offset})").format(encoding=encoding, offset=exc.start)
                           ) from None
        if hint:
            raise BadInput(_("the file is not UTF-8 text (undecodable byte at offset {offset}); "
                             "save it as CSV UTF-8, or, for a CSV saved by Chinese Excel, add "
                             "--encoding gb18030").format(offset=exc.start)) from None
        raise BadInput(_("the file is not UTF-8 text (undecodable byte at offset {offset}); "
                         "save it as CSV UTF-8 and try again").format(offset=exc.start)
                       ) from None
    if "\x00" in text:
        raise BadInput(_("the file contains NUL bytes; it is not a CSV text file"))
    return text


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: What marks a cell as text, not a formula, in a spreadsheet.
ESCAPE = "'"


def safe_cell(value, *, phone: bool = False):
    """A value for a CSV cell that a spreadsheet will not run as a formula: text starting
    with = + - @ tab or CR gets a leading apostrophe, except a phone number's + or - in a
    phone column. Text that already starts with an apostrophe gets one more, so that
    `cell_value` (which takes exactly one off) gives back exactly what was stored:
    ``'-1 Dock Rd`` is written ``''-1 Dock Rd``. Other types pass unchanged."""
    if not isinstance(value, str) or not value or value == "-":
        return value
    if value[0] == ESCAPE:
        return ESCAPE + value
    if value[0] not in FORMULA_START:
        return value
    if phone and value[0] in "+-" and PHONE_SHAPE.match(value):
        return value
    return ESCAPE + value


def cell_value(text: str) -> str:
    """What a cell written by `safe_cell` (or by a person) stands for: one leading
    apostrophe is taken off when a formula character or another apostrophe follows it
    (``'=1`` → ``=1``, ``''-1 Dock Rd`` → ``'-1 Dock Rd``); any other text is itself."""
    if len(text) > 1 and text[0] == ESCAPE and (text[1] in FORMULA_START or text[1] == ESCAPE):
        return text[1:]
    return text


#: What csv's own errors (strict parsing) mean, for people (`csv_problem`).
_CSV_ERRORS = (
    ("unexpected end of data", N_("a quote is opened and never closed (\") before the end "
                                  "of the file")),
    ("expected after", N_("after a closing quote (\") comes something other than a comma "
                          "or the end of the line")),
    ("field larger than field limit", N_("a cell is too long")),
)


def csv_problem(exc: Exception) -> str:
    """A `csv.Error` of `records` as one short line in the current language (the first
    120 characters of csv's own words when it is not one of the known ones)."""
    text = str(exc)
    for start, meaning in _CSV_ERRORS:
        if start in text:
            return _(meaning)
    return text[:120]


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
