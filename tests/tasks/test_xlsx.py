"""The ledger as people keep it (issue 14): Excel workbooks and Chinese headers.

Files are read back with two readers: ours (python-calamine, what import uses) and
openpyxl, an independent one that also shows what a spreadsheet sees (cell types, formulas,
frozen panes, print settings).
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import openpyxl
import pytest

from outreach.db.errors import BadInput
from outreach.tasks.kernel import rules
from outreach.tasks.ledger import rules as ledger_rules
from outreach.tasks.ledger.book import (
    COLUMNS, ZH_COLUMNS, LedgerFileError, export_ledger, export_ledger_xlsx, import_ledger,
    read_ledger,
)
from outreach.tasks.kernel.xlsxfile import sheet_records, workbook_bytes
from tests.db import factories as f

#: Text a spreadsheet could take for something else: formulas, apostrophes, Excel's own
#: escapes, white space, leading zeros, CJK.
TRICKY = ["=1+1", "+44 road", "-1 Dock Rd", "@home", "'quoted", "''", "'", "=", "-",
          "_x0041_", "a & b <c>", " lead", "trail ", "tab\there", "two\nlines", "0012",
          "北区 1 号", "=HYPERLINK(\"http://x\")", "1e5", "TRUE", "2026-11-30"]


def _book(rows: list[list], *, title: str | None = None) -> bytes:
    """A workbook as a person's spreadsheet program saves one (openpyxl: shared strings,
    real dates, numbers as numbers), optionally with a title row above the header."""
    wb = openpyxl.Workbook()
    ws = wb.active
    if title:
        ws.append([title])
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _open(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]


# --- the writer ---------------------------------------------------------------------------


def test_text_stays_text_and_nothing_is_a_formula():
    rows = [[v, dt.date(1940, 2, 3), 7, 2.5] for v in TRICKY]
    data = workbook_bytes(headers=["text", "day", "n", "x"], rows=rows)
    got = [values for _, values in sheet_records(data)]
    assert got[0] == ["text", "day", "n", "x"]
    assert [r[0] for r in got[1:]] == TRICKY
    assert got[1][1] == dt.date(1940, 2, 3)
    ws = _open(data)
    for (cell, date, n, x), value in zip(ws.iter_rows(min_row=2), TRICKY):
        assert cell.data_type == "s" and cell.number_format == "@"
        if "_x" not in value:  # openpyxl leaves Excel's escapes as they are; calamine not
            assert cell.value == value
        assert date.is_date and date.value == dt.datetime(1940, 2, 3)
        assert (n.data_type, n.value, x.value) == ("n", 7, 2.5)
    risky = [c for c in ws["A"][1:] if str(c.value)[:1] in "=+-@"]
    assert risky and all(c.quotePrefix for c in risky), "formula-looking text is quoted"
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "<f " not in sheet


def test_dates_at_the_ends_of_the_range_read_back_as_written():
    """Excel's calendar has a 29 February 1900: days before March 1900 count one less."""
    days = [dt.date(1900, 1, 1), dt.date(1900, 2, 28), dt.date(1900, 3, 1),
            dt.date(1970, 1, 1), dt.date(2100, 12, 31)]
    data = workbook_bytes(headers=["day"], rows=[[d] for d in days])
    assert [v[0] for _, v in sheet_records(data)][1:] == days
    assert [c.value.date() for c in _open(data)["A"][1:]] == days


def test_the_sheet_prints_on_a4_with_the_header_frozen_and_columns_sized():
    rows = [["M0000001", "欧阳建国", "Some rather long address, Building 7, Room 1203"]]
    ws = _open(workbook_bytes(headers=["ledger_no", "姓名", "address"], rows=rows,
                              least=[0, 0, 0]))
    assert ws.freeze_panes == "A2"
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize == 9
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0)
    assert ws.print_title_rows == "$1:$1"
    widths = {k: d.width for k, d in ws.column_dimensions.items()}
    assert widths["A"] >= len("M0000001") and widths["B"] >= 8, "CJK counts double"
    assert widths["C"] > len(rows[0][2]) - 2
    assert ws["A1"].font.b


def test_more_rows_than_a_sheet_holds_are_refused(monkeypatch):
    from outreach.tasks.kernel import xlsxfile

    monkeypatch.setattr(xlsxfile, "MAX_ROWS", 4)
    workbook_bytes(headers=["a"], rows=[["1"]] * 3)
    with pytest.raises(BadInput, match="too many for one Excel sheet"):
        workbook_bytes(headers=["a"], rows=[["1"]] * 4)


def test_a_text_longer_than_a_cell_holds_is_cut_where_excel_cuts(tmp_path):
    from outreach.tasks.kernel.xlsxfile import CELL_MAX

    long = "报" * (CELL_MAX + 10)
    ws = _open(workbook_bytes(headers=["a", "b"], rows=[[long, "x" * CELL_MAX]]))
    cut = ws.cell(row=2, column=1).value
    assert len(cut) == CELL_MAX and cut.endswith("…") and cut[:-1] == long[:CELL_MAX - 1]
    assert ws.cell(row=2, column=2).value == "x" * CELL_MAX  # exactly the most: whole


def test_a_csv_named_xlsx_is_told_apart_from_a_broken_workbook(tmp_path):
    path = tmp_path / "ledger.xlsx"
    path.write_bytes(",".join(COLUMNS).encode() + b"\n")
    with pytest.raises(BadInput, match="named .xlsx but is not an Excel workbook"):
        read_ledger(path)


def test_a_gbk_csv_is_read_when_named_and_refused_with_the_way_out_when_not(tmp_path):
    row = ["Z1", "王芳", "1940-02-03", "", "北区", "外出", "", "", "否", "", ""]
    text = ",".join(ZH_COLUMNS) + "\n" + ",".join(row) + "\n"
    path = tmp_path / "台账.csv"
    path.write_bytes(text.encode("gbk"))
    with pytest.raises(BadInput, match="--encoding gb18030"):
        read_ledger(path)
    [got] = read_ledger(path, encoding="gb18030")
    assert (got["name"], got["branch"], got["residence"]) == ("王芳", "北区", "away")
    with pytest.raises(BadInput, match="unknown encoding latin9"):
        read_ledger(path, encoding="latin9")
    path.write_bytes(b"\xff\xfe\xfd" + text.encode("utf-8"))  # no GB18030 either
    with pytest.raises(BadInput, match="not gb18030 text"):
        read_ledger(path, encoding="gb18030")


def test_what_is_no_workbook_is_refused_in_one_line():
    with pytest.raises(BadInput, match="not an Excel workbook"):
        list(sheet_records(b"PK\x03\x04 not really a zip"))


# --- the rules ----------------------------------------------------------------------------


@pytest.mark.parametrize("text, day", [
    ("2026-11-30", dt.date(2026, 11, 30)), ("2026/11/30", dt.date(2026, 11, 30)),
    ("2026/1/5", dt.date(2026, 1, 5)), ("2026年11月30日", dt.date(2026, 11, 30)),
    ("1940年2月3日", dt.date(1940, 2, 3)), (" 2026/11/30 ", dt.date(2026, 11, 30)),
])
def test_file_dates_in_three_ways(text, day):
    assert rules.parse_file_day(text, "birth_date") == day


@pytest.mark.parametrize("text", ["2026/2/30", "2026年13月1日", "2026/11/30/1", "1899/12/31",
                                  "٢٠٢٦/١١/٣٠", "2026年11月30", "30/11/2026", "2026-1-5",
                                  "13800138000", "2026.11.30"])
def test_other_dates_are_refused_without_echoing_them(text):
    with pytest.raises(BadInput) as err:
        rules.parse_file_day(text, "出生日期")
    assert "出生日期" in str(err.value) and text not in str(err.value)


def test_chinese_words_for_residence_and_homebound():
    assert ledger_rules.parse_residence("外出", "居住情况") == "away"
    assert ledger_rules.parse_residence("本地", "居住情况") == "local"
    assert ledger_rules.parse_residence(" AWAY ", "residence") == "away"
    assert rules.parse_yes_no("是", "行动不便") is True
    assert rules.parse_yes_no("否", "行动不便") is False
    with pytest.raises(BadInput):
        ledger_rules.parse_residence("国外", "居住情况")


# --- reading a ledger ---------------------------------------------------------------------


def test_a_chinese_ledger_from_excel_with_mixed_dates():
    """As a coordinator keeps it: a title above the header, dates as real dates and as
    text both ways, a phone typed as a number, TRUE for homebound, blank rows."""
    rows = [
        list(ZH_COLUMNS),
        ["M001", "张三", dt.date(1940, 2, 3), "013800138000", "北区", "本地", "某路1号",
         None, "是", "李四", "13800138000"],
        ["M002", "王五", "1941/3/4", 13912345678, "北区", "外出", "'某路2号", "上海", "否",
         None, None],
        [None] * 11,
        ["M003", "赵六", "1942年5月6日", None, "南区", None, None, None, True, None, None],
        [1004, "钱七", "1943-07-08", "+86 10 5555", "南区", "AWAY", None, None, "no", None,
         None],
    ]
    got = read_ledger(io.BytesIO(_book(rows, title="某某社区党员台账")))
    assert [r["ledger_no"] for r in got] == ["M001", "M002", "M003", "1004"]
    assert [r["birth_date"] for r in got] == [dt.date(1940, 2, 3), dt.date(1941, 3, 4),
                                             dt.date(1942, 5, 6), dt.date(1943, 7, 8)]
    assert [r["_line"] for r in got] == [3, 4, 6, 7], "spreadsheet rows, title counted"
    assert got[0]["phone"] == "013800138000" and got[1]["phone"] == "13912345678"
    assert [str(r["residence"]) for r in got] == ["local", "away", "local", "away"]
    assert [r["homebound"] for r in got] == [True, False, True, False]
    assert got[1]["home_address"] == "'某路2号", "a cell's text is taken as it is"


def test_problems_of_an_excel_ledger_are_listed_by_row():
    rows = [
        list(ZH_COLUMNS),
        ["M001", "张三", "1940年2月30日", "abc", "北区", "国外", None, None, "也许", None, None],
        ["M002", None, None, None, None, None, None, None, None, None, None],
        ["M001", "重复", None, None, "北区", None, None, None, None, None, None],
        ["M004", "好人", dt.date(1950, 1, 1), None, "北区", None, None, None, None, None, None],
        ["M005", "多了", None, None, "北区", None, None, None, None, None, None, "备注"],
    ]
    with pytest.raises(LedgerFileError) as err:
        read_ledger(io.BytesIO(_book(rows)))
    problems = err.value.problems
    assert {p.split(":")[0] for p in problems} == {"row 2", "row 3", "row 4", "row 6"}
    by_row = "\n".join(problems)
    for fragment in ("row 2: 出生日期 is not a date", "row 2: 联系电话 has characters",
                     "row 2: 居住情况 must be local or away", "row 2: 行动不便 must be yes or no",
                     "row 3: 姓名 is required", "row 3: 所在支部 is required",
                     "row 4: 台账编号 'M001' is already on row 2", "row 6: a cell right of"):
        assert fragment in by_row
    assert "abc" not in by_row and "国外" not in by_row, "values are not echoed"
    assert "nothing was imported" in str(err.value)


def test_a_wrong_header_names_the_chinese_columns():
    header = list(ZH_COLUMNS)
    header[2] = "生日"
    with pytest.raises(LedgerFileError) as err:
        read_ledger(io.BytesIO(_book([header])))
    text = str(err.value)
    assert "row 1: the header must be exactly 台账编号,姓名,出生日期" in text
    assert "missing 出生日期" in text and "unknown 生日" not in text  # not a column: withheld


def test_a_chinese_csv_ledger_reads_like_the_english_one():
    zh = ",".join(ZH_COLUMNS) + "\nM1,张三,2026年1月5日,0101,北区,外出,,,是,,\n"
    en = ",".join(COLUMNS) + "\nM1,张三,2026-01-05,0101,北区,away,,,yes,,\n"
    assert read_ledger(io.BytesIO(zh.encode())) == read_ledger(io.BytesIO(en.encode()))


# --- export → import gives back exactly what was stored -----------------------------------


def _ledger(session):
    coord = f.actor(session, f.coordinator(session))
    north = f.branch(session, name="北区-xlsx")
    members = [
        f.member(session, branch_=north, name="张三", birth_date=dt.date(1940, 2, 3),
                 phone="013800138000", residence="away", homebound=True,
                 home_address=TRICKY[0], current_address="上海", family_contact_name="李四",
                 family_contact_phone="0086 10 5555"),
        f.member(session, branch_=north, name="'quoted", phone="+86 10 5555",
                 home_address="-1 Dock Rd", family_contact_name="@home"),
    ] + [f.member(session, branch_=north, name=f"成员{i}", home_address=v,
                  current_address=v.strip() or None, phone="0" * (i % 5 + 1))
         for i, v in enumerate(TRICKY) if v.strip() == v and v
         and "\t" not in v]  # a tab is refused in any stored text (issue 24)
    return coord, members


def _stored(session, members) -> dict[str, tuple]:
    for m in members:
        session.refresh(m)
    return {m.ledger_no: (m.name, m.birth_date, m.phone, m.residence, m.homebound,
                          m.home_address, m.current_address, m.family_contact_name,
                          m.family_contact_phone) for m in members}


@pytest.mark.parametrize("excel", [False, True], ids=["csv", "xlsx"])
@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_export_then_import_gives_back_exactly_what_was_stored(session, excel, lang):
    coord, members = _ledger(session)
    before = _stored(session, members)
    if excel:
        out = io.BytesIO()
        n = export_ledger_xlsx(session, out, actor=coord, lang=lang)
        data = out.getvalue()
    else:
        text = io.StringIO()
        n = export_ledger(session, text, actor=coord, lang=lang)
        data = text.getvalue().encode()
    assert n >= len(members)
    header = (ZH_COLUMNS if lang == "zh_CN" else COLUMNS)
    if excel:
        assert next(sheet_records(data))[1] == list(header)
    else:
        assert data.decode().split("\n", 1)[0] == ",".join(header)
    rows = read_ledger(io.BytesIO(data))
    mine = {m.ledger_no for m in members}
    rows = [r for r in rows if r["ledger_no"] in mine]
    res = import_ledger(session, rows, actor=coord)
    assert (res.created, res.updated, res.unchanged) == (0, 0, len(members))
    assert _stored(session, members) == before


def test_excel_export_keeps_phones_as_text_and_dates_as_dates(session):
    coord, members = _ledger(session)
    out = io.BytesIO()
    export_ledger_xlsx(session, out, actor=coord, lang="zh_CN")
    ws = _open(out.getvalue())
    assert [c.value for c in ws[1]] == list(ZH_COLUMNS)
    row = next(r for r in ws.iter_rows(min_row=2) if r[0].value == members[0].ledger_no)
    assert (row[3].data_type, row[3].value) == ("s", "013800138000")
    assert row[2].is_date and row[2].value.date() == dt.date(1940, 2, 3)
    assert (row[5].value, row[8].value) == ("外出", "是")
    assert row[6].data_type == "s" and row[6].value == "=1+1" and row[6].quotePrefix


def test_an_unknown_export_language_is_refused(session):
    coord = f.actor(session, f.coordinator(session))
    with pytest.raises(BadInput, match="en or zh_CN"):
        export_ledger(session, io.StringIO(), actor=coord, lang="fr")


def test_a_sheet_name_with_quotes_and_days_before_excels_first_stay_readable():
    """A quote in the sheet's name (a report's output file name) is escaped; a day before
    1900-01-01, which Excel cannot show, is kept as its ISO text; a date-time early in
    1900 reads back on its own day (Excel's 1900-02-29)."""
    data = workbook_bytes(headers=["day", "at"],
                          rows=[[dt.date(1899, 6, 1), dt.datetime(1900, 1, 1, 12, 0)],
                                [dt.date(1900, 1, 1), dt.datetime(1899, 12, 31, 8, 0)]],
                          sheet='say "hi" & <b>')
    book = openpyxl.load_workbook(io.BytesIO(data))
    ws = book.worksheets[0]
    assert ws.title == 'say "hi" & <b>'
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert rows[0][0] == "1899-06-01"
    assert rows[0][1] == dt.datetime(1900, 1, 1, 12, 0)
    assert rows[1][0] == dt.datetime(1900, 1, 1)
    assert rows[1][1] == "1899-12-31 08:00:00"
