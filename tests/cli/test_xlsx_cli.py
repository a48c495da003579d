"""Excel at the command line (issue 14): the 台账 in and out, reports and the run sheet."""

from __future__ import annotations

import datetime as dt
import os
import stat
import subprocess
import sys

import openpyxl
from sqlalchemy import select

from outreach.db.models import Branch, Member, Volunteer
from outreach.db.session import make_engine, session_scope
from outreach.tasks.ledger.book import COLUMNS, ZH_COLUMNS
from outreach.tasks.work.runsheet import SHEET_FIELDS
from tests.cli.helpers import bootstrap, outreach
from tests.db import factories as f


def _book(path, rows):
    """A workbook as a spreadsheet program saves one; ``=…`` typed as text (as after a
    leading apostrophe), not as a formula."""
    wb = openpyxl.Workbook()
    for r in rows:
        wb.active.append(r)
    for row in wb.active.iter_rows():
        for c in row:
            if isinstance(c.value, str) and c.value.startswith("="):
                c.data_type = "s"
    wb.save(path)
    return path


def _sheet(path):
    return openpyxl.load_workbook(path).worksheets[0]


def _private(path) -> bool:
    return stat.S_IMODE(os.stat(path).st_mode) == 0o600


LEDGER = [
    list(ZH_COLUMNS),
    ["M001", "张三", dt.date(1940, 2, 3), "013800138000", "North", "本地", "某路1号", None,
     "是", "李四", "0086 13800138000"],
    ["M002", "王五", "1941/3/4", None, "North", "外出", "=1+1", "上海", "否", None, None],
    ["M003", "赵六", "1942年5月6日", "+86 10 5555", "南区", None, None, None, None, None, None],
]


def test_the_ledger_in_and_out_of_excel_in_chinese(db_url, tmp_path):
    coord, _ = bootstrap()
    book = _book(tmp_path / "台账.xlsx", LEDGER)
    r = outreach("members", "import", str(book), code=coord)
    assert r.exit_code == 0, r.output
    assert "3 new" in r.stdout
    out = tmp_path / "out.xlsx"
    r = outreach("members", "export", str(out), "--lang", "zh_CN", code=coord)
    assert r.exit_code == 0 and "exported 3 members" in r.stdout
    assert _private(out)
    ws = _sheet(out)
    assert [c.value for c in ws[1]] == list(ZH_COLUMNS) and ws.freeze_panes == "A2"
    first = [c for c in ws[2]]
    assert (first[0].value, first[3].value, first[3].data_type) == ("M001", "013800138000", "s")
    assert first[2].is_date and (first[5].value, first[8].value) == ("本地", "是")
    r = outreach("members", "import", str(out), code=coord)
    assert r.exit_code == 0 and "0 new, 0 updated (0 field changes recorded), 3 unchanged" \
        in r.stdout
    # the same ledger as CSV, English and Chinese, imports back unchanged too
    for lang, header in (("en", COLUMNS), ("zh_CN", ZH_COLUMNS)):
        csv_out = tmp_path / f"out-{lang}.csv"
        assert outreach("members", "export", str(csv_out), "--lang", lang,
                        code=coord).exit_code == 0
        assert csv_out.read_text(encoding="utf-8").split("\n", 1)[0] == ",".join(header)
        r = outreach("members", "import", str(csv_out), code=coord)
        assert r.exit_code == 0 and "3 unchanged" in r.stdout, r.output
    with session_scope(make_engine(db_url), write=False) as s:
        m = s.scalars(select(Member).where(Member.ledger_no == "M002")).one()
        assert (m.birth_date, m.home_address, str(m.residence)) == (
            dt.date(1941, 3, 4), "=1+1", "away")


def test_a_bad_excel_ledger_is_refused_whole_with_every_row(db_url, tmp_path):
    coord, _ = bootstrap()
    rows = [list(ZH_COLUMNS),
            ["M001", "张三", "1940/2/30", None, "North", None, None, None, None, None, None],
            ["M002", "王五", None, "12a", "North", "abroad", None, None, None, None, None],
            ["M003", None, None, None, "North", None, None, None, None, None, None]]
    r = outreach("members", "import", str(_book(tmp_path / "bad.xlsx", rows)), code=coord)
    assert r.exit_code == 2
    lines = r.stderr.strip().split("\n")
    assert "nothing was imported (4 problems)" in lines[0]
    assert [ln.split(":")[0] for ln in lines[1:]] == ["row 2", "row 3", "row 3", "row 4"]
    assert "12a" not in r.stderr
    with session_scope(make_engine(db_url), write=False) as s:
        assert s.scalars(select(Member)).first() is None


def test_reports_as_excel(db_url, tmp_path):
    coord, vol = bootstrap()
    assert outreach("members", "import", str(_book(tmp_path / "l.xlsx", LEDGER)),
                    code=coord).exit_code == 0
    for which in ("coverage", "scorecard", "meetings"):
        out = tmp_path / f"{which}.xlsx"
        r = outreach("report", which, "--format", "xlsx", "--output", str(out),
                     "--today", "2026-11-30", code=coord)
        assert r.exit_code == 0, r.output
        assert _private(out)
        ws = _sheet(out)
        assert ws.freeze_panes == "A2" and ws.page_setup.orientation == "landscape"
        assert ws.max_row >= 2 and "branch" in [c.value for c in ws[1]]
        numbers = [c for row in ws.iter_rows(min_row=2) for c in row
                   if isinstance(c.value, (int, float))]
        assert numbers, f"{which}: figures are numbers"
    r = outreach("report", "coverage", "--format", "xlsx", code=coord)
    assert r.exit_code == 2 and "--output" in r.stderr
    r = outreach("report", "coverage", "--output", str(tmp_path / "x.xlsx"), code=coord)
    assert r.exit_code == 2 and not (tmp_path / "x.xlsx").exists()


def test_the_run_sheet_in_excel(db_url, tmp_path):
    coord, vol = bootstrap()
    eng = make_engine(db_url)
    with session_scope(eng) as s:
        me = s.scalars(select(Volunteer).where(Volunteer.name == "Bob Volunteer")).one()
        branch = s.get(Branch, me.branch_id)
        m = f.member(s, branch_=branch, name="张三", phone="013800138000",
                     home_address="=1+1 某路")
        f.task(s, member_=m, status="assigned", volunteer_=me, due_on=dt.date(2026, 12, 1))
    out = tmp_path / "run-sheet.xlsx"
    r = outreach("tasks", "--format", "xlsx", "--output", str(out), code=vol)
    assert r.exit_code == 0 and "1 task written" in r.stdout, r.output
    assert _private(out)
    ws = _sheet(out)
    assert len([c.value for c in ws[1]]) == len(SHEET_FIELDS)
    row = {h.value: c for h, c in zip(ws[1], ws[2])}
    assert (row["phone"].value, row["phone"].data_type) == ("013800138000", "s")
    assert row["address"].value == "=1+1 某路" and row["address"].data_type == "s"
    assert row["due"].is_date
    assert ws.page_setup.paperSize == 9 and ws.page_setup.fitToWidth == 1
    assert ws.column_dimensions["K"].width >= 30, "room to write a note"
    r = outreach("tasks", "--format", "xlsx", code=vol)
    assert r.exit_code == 2


def test_the_volunteer_path_loads_no_excel_library_unless_asked(db_url, tmp_path):
    coord, vol = bootstrap()
    probe = (
        "import sys\n"
        "from outreach.cli.main import app\n"
        "try:\n"
        "    app(sys.argv[1:])\n"
        "except SystemExit as e:\n"
        "    assert e.code in (0, None), e.code\n"
        "print('LOADED', sorted(m for m in sys.modules if m in ('python_calamine', "
        "'outreach.tasks.kernel.xlsxfile', 'prefect', 'openpyxl')))\n")
    env = {**os.environ, "OUTREACH_TOKEN": vol}
    for argv, loaded in ((["tasks"], "[]"), (["tasks", "--format", "csv"], "[]"),
                         (["tasks", "--format", "xlsx", "--output", str(tmp_path / "t.xlsx")],
                          "['outreach.tasks.kernel.xlsxfile']")):
        out = subprocess.run([sys.executable, "-c", probe, *argv], env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert f"LOADED {loaded}" in out.stdout, (argv, out.stdout)


def test_a_ledger_saved_by_chinese_excel_as_plain_csv_imports_with_its_encoding(db_url, tmp_path):
    """Chinese Excel's plain "CSV" is GBK: refused with the way out, imported when named."""
    coord, _ = bootstrap()
    path = tmp_path / "台账.csv"
    rows = [list(ZH_COLUMNS), ["G001", "钱七", "1943-01-02", "", "东区", "本地", "", "", "是", "",
                               ""]]
    path.write_bytes("\n".join(",".join(r) for r in rows).encode("gbk") + b"\n")
    r = outreach("members", "import", str(path), code=coord)
    assert r.exit_code == 2 and "--encoding gb18030" in r.output and "Traceback" not in r.output
    r = outreach("members", "import", str(path), "--encoding", "klingon", code=coord)
    assert r.exit_code == 2 and "unknown encoding klingon" in r.output
    r = outreach("members", "import", str(path), "--encoding", "gb18030", code=coord)
    assert r.exit_code == 0, r.output
    with session_scope(make_engine(db_url)) as s:
        m = s.scalar(select(Member).where(Member.ledger_no == "G001"))
        assert (m.name, m.homebound) == ("钱七", True)
