"""Excel workbooks (.xlsx) in and out: one way, shared by the ledger, reports and run sheets.

Reading: the first sheet through python-calamine (Rust; also .xls and .ods), every record
with the row number the spreadsheet shows. Cells come back as text or as dates: numbers
as their digits (``13800138000.0`` → ``"13800138000"``), TRUE/FALSE as ``true``/``false``,
a date-time as its date.

Writing: a streaming writer of our own on the standard library's zipfile. Measured on
100,000 ledger rows (11 columns) on this machine: the csv module 0.23 s, xlsxwriter
(constant_memory) 9.9 s, openpyxl (write_only) 14.2 s — pure Python per cell, 40-60 times
CSV, which would have put a 1,000,000-row export far past the 3x CSV that issue 14 allows
— and this writer 1.5-1.8 s, in constant memory (bench/bench_xlsx.py: the whole export,
query included, 1.1x CSV at 1,000,000 rows). What it writes:

- text as text (inline strings, number format ``@``): a phone's leading zero stays and
  nothing is ever a formula; text that a spreadsheet would take for one (``=`` ``+`` ``-``
  ``@``), or that starts with an apostrophe, also carries Excel's quote prefix, as if typed
  with a leading apostrophe, so that editing the cell keeps it text and keeps its own
  apostrophe;
- dates as real Excel dates (``yyyy-mm-dd``), numbers as numbers;
- the header row bold and frozen, columns sized to their content (header and the first
  thousand rows), text columns formatted as text for what is typed in later;
- printable on A4: landscape, fit to the page's width, the header repeated on every page,
  grid lines and page numbers.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import re
import unicodedata
import zipfile
from typing import IO, Iterable, Iterator, Sequence

from outreach.db.errors import BadInput

#: The rows a sheet holds (Excel's limit), the header included.
MAX_ROWS = 1_048_576
#: Columns we read at most (a ledger has 11): a wider sheet is refused, not padded.
MAX_COLUMNS = 1000
#: Rows looked at to size the columns (the header and this many after it).
WIDTH_SAMPLE = 1000
MIN_WIDTH, MAX_WIDTH = 6, 60
#: Rows at the top of a sheet that may hold a title above the header (`find_header`).
TITLE_ROWS = 5

ZIP_MAGIC, OLE_MAGIC = b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
FORMULA_START = ("=", "+", "-", "@")
#: Text whose cell carries Excel's quote prefix: a formula's first character, and an
#: apostrophe — Excel takes a typed leading apostrophe for its text mark, so a cell holding
#: ``'=abc`` without the prefix would lose its apostrophe the day someone edits it.
_QUOTE_START = FORMULA_START + ("'",)
#: Excel day 0 (its 1900 calendar, with the leap day that never was: right from March 1900).
_EPOCH = dt.date(1899, 12, 30).toordinal()
#: Before this day Excel counts from 1899-12-31 (its 29 February 1900 comes after it).
_MARCH_1900 = dt.date(1900, 3, 1).toordinal()
#: Excel's first day: an earlier date is written as its ISO text.
FIRST_DAY = dt.date(1900, 1, 1)

# Styles (cellXfs in styles.xml): 0 general, 1 date, 2 date-time, 3 bold header,
# 4 text, 5 text with quote prefix.
_DATE, _DATETIME, _HEAD, _TEXT, _QUOTED = 1, 2, 3, 4, 5

#: What must not stand as it is in an XML text node, and Excel's own escape ``_xHHHH_``
#: (a literal one is escaped in turn, ``_x005F_``, or Excel would decode it).
_SPECIAL = re.compile(r"[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]"
                      r"|_x[0-9A-Fa-f]{4}_")


def is_workbook(data: bytes) -> bool:
    """Do these bytes look like a workbook (.xlsx/.ods: a zip; .xls: an OLE file)?"""
    return data[:4] == ZIP_MAGIC or data[:8] == OLE_MAGIC


# --- reading ------------------------------------------------------------------------------


def _value(v) -> str | dt.date:
    """A cell as text or a date."""
    t = type(v)
    if t is str:
        return v
    if t is float:
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if t is int:
        return str(v)
    if t is bool:
        return "true" if v else "false"
    if t is dt.datetime:
        return v.date()
    if t is dt.date:
        return v
    if v is None:
        return ""
    return str(v)


def sheet_records(data: bytes) -> Iterator[tuple[int, list]]:
    """(row number as the spreadsheet shows it, cells) for every row of the first sheet,
    from its first row with anything in it; cells are text (``""`` when empty) or dates.

    A file that is no workbook we can read is refused (BadInput) before the first record.
    """
    from outreach.i18n import _
    from python_calamine import CalamineWorkbook, PasswordError

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        if not book.sheet_names:
            raise BadInput(_("the workbook has no sheet"))
        sheet = book.get_sheet_by_index(0)
        start = sheet.start
        width = sheet.width
    except PasswordError:
        raise BadInput(_("the workbook is protected by a password: save it without one "
                         "and try again")) from None
    except BadInput:
        raise
    except Exception as exc:  # noqa: BLE001 - calamine's errors: zip, XML, format
        raise BadInput(_("the file is not an Excel workbook outreach can read ({reason}); "
                         "save it as .xlsx (or CSV UTF-8) and try again")
                       .format(reason=type(exc).__name__)) from None
    if start is None:
        return
    if width > MAX_COLUMNS:
        raise BadInput(_("the first sheet is {n} columns wide; a ledger has 11")
                       .format(n=width))
    first = start[0] + 1
    for i, row in enumerate(sheet.iter_rows()):
        yield first + i, [_value(v) for v in row]


# --- writing ------------------------------------------------------------------------------


def _column(i: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    name = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        name = chr(65 + r) + name
    return name


def _escape_match(m: re.Match) -> str:
    s = m.group(0)
    if s == "&":
        return "&amp;"
    if s == "<":
        return "&lt;"
    if s == ">":
        return "&gt;"
    if s == "\r":
        return "&#13;"
    if s.startswith("_x"):
        return "_x005F_" + s[1:]
    return f"_x{ord(s):04X}_"


def _xml(text: str) -> str:
    return _SPECIAL.sub(_escape_match, text) if _SPECIAL.search(text) else text


def display_width(value) -> int:
    """Columns a value takes on screen: wide (CJK) characters count two."""
    text = value.isoformat() if isinstance(value, dt.date) else str(value)
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _widths(headers: Sequence[str], sample: list[Sequence],
            least: Sequence[int] | None = None) -> list[int]:
    out = []
    for i, h in enumerate(headers):
        w = max([display_width(h) + 2] + [display_width(r[i]) for r in sample
                                           if i < len(r) and r[i] not in (None, "")])
        floor = least[i] if least is not None and i < len(least) else MIN_WIDTH
        out.append(min(MAX_WIDTH, max(floor, w + 1)))
    return out


def _serial(day: dt.date) -> int:
    """Excel's number of a day."""
    o = day.toordinal()
    return o - _EPOCH if o >= _MARCH_1900 else o - _EPOCH - 1


#: The most characters a cell holds in Excel; a longer text (a report could have one; the
#: ledger's own fields are far shorter) is cut there and ends with "…", or Excel refuses
#: to open the whole workbook.
CELL_MAX = 32767


def _cell(ref: str, v) -> str:
    t = type(v)
    if t is str:
        if len(v) > CELL_MAX:
            v = v[:CELL_MAX - 1] + "…"
        s = _QUOTED if v[:1] in _QUOTE_START else _TEXT
        return (f'<c r="{ref}" s="{s}" t="inlineStr"><is><t xml:space="preserve">{_xml(v)}'
                '</t></is></c>')
    if t is dt.date:
        if v < FIRST_DAY:  # Excel has no day before 1900-01-01: keep it as text
            return _cell(ref, v.isoformat())
        return f'<c r="{ref}" s="{_DATE}"><v>{_serial(v)}</v></c>'
    if t is int or (t is float and v == v and abs(v) != float("inf")):
        return f'<c r="{ref}"><v>{v!r}</v></c>'
    if t is bool:
        return f'<c r="{ref}" t="b"><v>{int(v)}</v></c>'
    if t is dt.datetime:
        if v.date() < FIRST_DAY:
            return _cell(ref, v.isoformat(sep=" "))
        naive = v.replace(tzinfo=None)
        seconds = (naive - dt.datetime.combine(naive.date(), dt.time())).total_seconds()
        days = _serial(naive.date()) + seconds / 86400  # _serial: Excel's 1900-02-29
        return f'<c r="{ref}" s="{_DATETIME}"><v>{days!r}</v></c>'
    return _cell(ref, str(v))


_NS = ('xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
       'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"')
_HEAD_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_CONTENT_TYPES = _HEAD_XML + (
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '</Types>')
_RELS = _HEAD_XML + (
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_BOOK_RELS = _HEAD_XML + (
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/styles" Target="styles.xml"/></Relationships>')
_XF = '<xf numFmtId="{fmt}" fontId="{font}" fillId="0" borderId="0" xfId="0"{extra}/>'
_STYLES = _HEAD_XML + (
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/>'
    '<numFmt numFmtId="165" formatCode="yyyy\\-mm\\-dd\\ hh:mm"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    '</cellStyleXfs><cellXfs count="6">'
    + _XF.format(fmt=0, font=0, extra="")
    + _XF.format(fmt=164, font=0, extra=' applyNumberFormat="1"')
    + _XF.format(fmt=165, font=0, extra=' applyNumberFormat="1"')
    + _XF.format(fmt=49, font=1, extra=' applyNumberFormat="1" applyFont="1"')
    + _XF.format(fmt=49, font=0, extra=' applyNumberFormat="1"')
    + _XF.format(fmt=49, font=0, extra=' applyNumberFormat="1" quotePrefix="1"')
    + '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
    '</cellStyles></styleSheet>')
_SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\']")


def _sheet_name(name: str) -> str:
    name = _SHEET_NAME_BAD.sub(" ", name).strip()[:31]
    return name or "Sheet1"


def _book(name: str) -> str:
    quoted = "'" + name + "'"
    return _HEAD_XML + (
        f'<workbook {_NS}><bookViews><workbookView/></bookViews>'
        f'<sheets><sheet name="{_xml(name).replace(chr(34), "&quot;")}" sheetId="1" '
        f'r:id="rId1"/></sheets>'
        f'<definedNames><definedName name="_xlnm.Print_Titles" localSheetId="0">'
        f'{_xml(quoted)}!$1:$1</definedName></definedNames></workbook>')


def _sheet_start(widths: list[int], styles: list[int | None]) -> str:
    cols = "".join(
        f'<col min="{i}" max="{i}" width="{w}" customWidth="1"'
        + (f' style="{s}"' if s is not None else "") + "/>"
        for i, (w, s) in enumerate(zip(widths, styles), 1))
    return _HEAD_XML + (
        f'<worksheet {_NS}><sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>'
        '<sheetViews><sheetView tabSelected="1" workbookViewId="0">'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
        '<sheetFormatPr defaultRowHeight="15"/>'
        + (f"<cols>{cols}</cols>" if cols else "") + "<sheetData>")


_SHEET_END = (
    '</sheetData><printOptions gridLines="1"/>'
    '<pageMargins left="0.4" right="0.4" top="0.6" bottom="0.6" header="0.3" footer="0.3"/>'
    '<pageSetup paperSize="9" orientation="landscape" fitToWidth="1" fitToHeight="0"/>'
    '<headerFooter><oddFooter>&amp;C&amp;P / &amp;N</oddFooter></headerFooter></worksheet>')


def _column_style(values: list) -> int | None:
    """The style of a column's empty cells: text for a text column, date for dates."""
    kinds = {type(v) for v in values if v not in (None, "")}
    if kinds == {dt.date}:
        return _DATE
    if kinds == {str}:
        return _TEXT
    return None


def write_workbook(out: IO[bytes], *, headers: Sequence[str], rows: Iterable[Sequence],
                   sheet: str = "Sheet1", least: Sequence[int] | None = None) -> int:
    """Write one sheet (``headers`` then ``rows``) as an .xlsx to ``out`` (a binary file,
    seekable or not); returns the number of rows written. Cells: str, int, float, bool,
    date, datetime or None (empty). ``least``: the narrowest each column may be (room to
    write in by hand). More rows than a sheet holds: BadInput."""
    from outreach.i18n import _

    rows = iter(rows)
    sample = list(itertools.islice(rows, WIDTH_SAMPLE))
    widths = _widths(headers, sample, least)
    styles = [_column_style([r[i] for r in sample if i < len(r)]) for i in range(len(headers))]
    letters = [_column(i) for i in range(max(len(headers), max(map(len, sample), default=0)))]
    name = _sheet_name(sheet)
    n = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _book(name))
        z.writestr("xl/_rels/workbook.xml.rels", _BOOK_RELS)
        z.writestr("xl/styles.xml", _STYLES)
        with z.open("xl/worksheets/sheet1.xml", "w") as f:
            head = "".join(
                f'<c r="{letters[i]}1" s="{_HEAD}" t="inlineStr"><is><t xml:space="preserve">'
                f'{_xml(str(h))}</t></is></c>' for i, h in enumerate(headers))
            f.write((_sheet_start(widths, styles) + f'<row r="1">{head}</row>').encode())
            chunk: list[str] = []
            for row in itertools.chain(sample, rows):
                n += 1
                if n >= MAX_ROWS:
                    raise BadInput(_("more than {n} rows: too many for one Excel sheet")
                                   .format(n=f"{MAX_ROWS - 1:,}"))
                r = n + 1
                if len(row) > len(letters):
                    letters += [_column(i) for i in range(len(letters), len(row))]
                # the two common cases inline (a call per cell is a third of the time)
                cells = [f'<row r="{r}">']
                for i, v in enumerate(row):
                    t = type(v)
                    if t is str and len(v) <= CELL_MAX:
                        if v:
                            style = _QUOTED if v[0] in _QUOTE_START else _TEXT
                            cells.append(
                                f'<c r="{letters[i]}{r}" s="{style}"'
                                f' t="inlineStr"><is><t xml:space="preserve">'
                                f'{_SPECIAL.sub(_escape_match, v) if _SPECIAL.search(v) else v}'
                                '</t></is></c>')
                    elif t is dt.date and v >= FIRST_DAY:
                        cells.append(f'<c r="{letters[i]}{r}" s="{_DATE}"><v>'
                                     f'{_serial(v)}</v></c>')
                    elif v is not None:
                        cells.append(_cell(f"{letters[i]}{r}", v))
                cells.append("</row>")
                chunk.append("".join(cells))
                if len(chunk) == 2000:
                    f.write("".join(chunk).encode())
                    chunk = []
            f.write(("".join(chunk) + _SHEET_END).encode())
    return n


def workbook_bytes(*, headers: Sequence[str], rows: Iterable[Sequence],
                   sheet: str = "Sheet1", least: Sequence[int] | None = None) -> bytes:
    """`write_workbook` into memory."""
    buf = io.BytesIO()
    write_workbook(buf, headers=headers, rows=rows, sheet=sheet, least=least)
    return buf.getvalue()


def rows_workbook(rows: list[dict], *, sheet: str = "Sheet1") -> bytes:
    """A report's rows as a workbook for people: headers and codes in the current language
    (`tasks.kernel.labels.table`), numbers as numbers, dates as dates."""
    from outreach.i18n import _
    from outreach.tasks.kernel.labels import table

    shown = table(rows)
    if not shown:
        return workbook_bytes(headers=[_("nothing to show")], rows=[], sheet=sheet)
    keys = list(shown[0])
    # the columns `labels.HEADERS` does not name: by their own msgid, as `cli.common.table`
    headers = [_(k) if isinstance(k, str) and k else k for k in keys]
    return workbook_bytes(headers=headers, rows=([r.get(k) for k in keys] for r in shown),
                          sheet=sheet)
