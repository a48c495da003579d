"""Text a person typed (issue 24, defect 6): control and invisible characters refused
everywhere text enters the ledger, in one line naming the field; what a person typed
escaped before it reaches an artifact; a name starting with ``'=`` kept exactly; a path
that is not a file named for what it is."""

from __future__ import annotations

import datetime as dt
import io
import os
import socket

import pytest

from outreach.db.errors import BadInput
from outreach.tasks.care import care
from outreach.tasks.ledger import people
from outreach.tasks.kernel import rules
from outreach.tasks.meetings import meetings as mt
from outreach.tasks.work import outcomes as oc
from outreach.tasks.kernel.csvfile import must_be_file
from outreach.tasks.ledger.book import (
    COLUMNS, LedgerFileError, export_ledger, export_ledger_xlsx, import_ledger, read_ledger,
)
from outreach.tasks.ledger.movements import check_place
from tests.db import factories as f

#: The characters the issue names, and their kin: bidi overrides, embeddings, isolates and
#: marks, zero-width spaces and joiners, line and paragraph separators, the BOM, the soft
#: hyphen, a tab, an escape, a C1 control, DEL.
REFUSED = ["\u202e", "\u202a", "\u202b", "\u202c", "\u202d", "\u2066", "\u2067", "\u2068",
           "\u2069", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2028", "\u2029",
           "\ufeff", "\u00ad", "\u2060", "\u061c", "\t", "\x1b", "\x07", "\x9b", "\x7f"]
#: Text that stays what it is: letters of any script, accents, emoji, ordinary and
#: ideographic spaces, a no-break space, punctuation, a new line (notes have lines).
ACCEPTED = ["Mary Bell", "王秀英", "Zoë Ångström", "محمد", "O'Brien", "grandma 👵🏽",
            "北区\u3000一组", "Dr.\u00a0Li", "x\u0301", "line one\nline two", "'=abc"]


@pytest.mark.parametrize("char", REFUSED, ids=lambda c: f"U+{ord(c):04X}")
def test_the_rule_finds_each_refused_character(char):
    assert rules.unseen(f"Mary{char}Bell") == char
    with pytest.raises(BadInput) as err:
        rules.check_text(f"Mary{char}Bell", "the name")
    text = str(err.value)
    assert "\n" not in text and "the name" in text and f"U+{ord(char):04X}" in text
    assert "Mary" not in text  # the value itself is never repeated


@pytest.mark.parametrize("text", ACCEPTED)
def test_the_rule_keeps_everything_else(text):
    assert rules.unseen(text) is None
    assert rules.check_text(text, "the name") == text


# --- the ledger import: CSV and Excel ---------------------------------------------------------


def _csv(**cells) -> bytes:
    row = {"ledger_no": "A1", "name": "Mary", "branch": "North", **cells}
    return (",".join(COLUMNS) + "\n" + ",".join(f'"{row.get(c, "")}"' for c in COLUMNS)
            + "\n").encode()


@pytest.mark.parametrize("column, value", [
    ("name", "Mary\u202eBell"), ("name", "Mary\tBell"), ("branch", "North\u2066"),
    ("home_address", "12 Elm\u200b Street"), ("family_contact_name", "Kim\u2028Lee"),
    ("current_address", "\ufeff3 Oak Road"),
])
def test_the_ledger_import_refuses_them_by_line_and_column(column, value):
    with pytest.raises(LedgerFileError) as err:
        read_ledger(io.BytesIO(_csv(**{column: value})))
    text = str(err.value)
    assert "line 2" in text and column in text and "nothing was imported" in text
    for part in ("Elm", "Oak", "Kim", "Bell"):  # a contact detail is never echoed
        assert part not in text


def test_an_excel_ledger_is_refused_the_same_way():
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(list(COLUMNS))
    wb.active.append(["A1", "Mary\u202eBell", None, None, "North"])
    buf = io.BytesIO()
    wb.save(buf)
    with pytest.raises(LedgerFileError) as err:
        read_ledger(io.BytesIO(buf.getvalue()))
    assert "row 2" in str(err.value) and "name" in str(err.value) and "U+202E" in str(err.value)


# --- the service functions (the CLI, the service and the pages all reach these) -------------


def test_volunteer_and_branch_names_refuse_them(session):
    boss = f.actor(session, f.coordinator(session))
    with pytest.raises(BadInput, match=r"the name contains control characters \(U\+0009\)"):
        people.add_volunteer(session, name="Ann\tLee", branch="North", actor=boss)
    with pytest.raises(BadInput, match=r"invisible character \(U\+202E\)"):
        people.add_volunteer(session, name="Ann", branch="North\u202e", actor=boss)
    with pytest.raises(BadInput, match=r"invisible character \(U\+200B\)"):
        people.branch_name("North\u200bSide")


def test_notes_answers_and_reasons_of_outcomes_refuse_them(session):
    br = f.branch(session)
    vol = f.volunteer(session, branch_=br)
    f.coordinator(session, branch_=br)
    t = f.task(session, member_=f.member(session, branch_=br), status="assigned",
               volunteer_=vol)
    me = f.actor(session, vol)
    day = dt.date(2026, 11, 2)
    with pytest.raises(BadInput, match=r"the note contains an invisible character \(U\+202E\)"):
        oc.record_outcome(session, task_id=t.id, outcome="no_answer", actor=me, today=day,
                          note="call back \u202elater")
    with pytest.raises(BadInput, match=r"answer address contains an invisible character") as err:
        oc.record_outcome(session, task_id=t.id, outcome="moved", actor=me, today=day,
                          answers={"address": "12 Elm\u2066 Street", "residence": "away"})
    assert "Elm" not in str(err.value)
    boss = f.actor(session, f.coordinator(session, branch_=br))
    with pytest.raises(BadInput, match=r"the reason contains control characters"):
        oc.skip(session, task_id=t.id, reason="dup\x1b[2J", actor=boss)
    assert t.status == "assigned" and t.attempts == 0


def test_meeting_texts_care_notes_and_places_refuse_them(session):
    br = f.branch(session, name="Root-text")
    boss = f.actor(session, f.coordinator(session, branch_=br))
    m = f.member(session, branch_=br, ledger_no="T-1", birth_date=dt.date(1940, 1, 1))
    today = dt.date(2026, 3, 2)
    with pytest.raises(BadInput, match=r"the topic contains an invisible character"):
        mt.plan_meeting(session, branch="Root-text", kind="group", on=today, actor=boss,
                        today=today, topic="budget\u2028vote")
    with pytest.raises(BadInput, match=r"the place contains control characters"):
        mt.plan_meeting(session, branch="Root-text", kind="group", on=today, actor=boss,
                        today=today, place="hall\t2")
    with pytest.raises(BadInput, match=r"the note contains an invisible character"):
        care.record_event(session, member_ref=m.ledger_no, kind="hospitalised", actor=boss,
                          today=today, note="\ufeffward 3")
    with pytest.raises(BadInput, match=r"the note contains an invisible character"):
        care.add_contribution(session, member_ref=m.ledger_no, kind="teaching", on=today,
                              actor=boss, note="taught\u00adcalligraphy")
    with pytest.raises(BadInput, match=r"the place contains an invisible character"):
        check_place("Shang\u200bhai")


def test_a_cli_option_is_refused_in_one_line(db_url):
    from tests.cli.helpers import bootstrap, outreach

    coord, _vol = bootstrap()
    r = outreach("volunteer", "add", "Eve\u202eLyn", "--branch", "North", code=coord)
    assert r.exit_code != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "U+202E" in lines[0] and "Traceback" not in r.output


# --- what a person typed, escaped before it reaches an artifact -------------------------------

NASTY_BRANCH = "**x** <b>y</b> | z"


def test_a_branch_name_with_markdown_and_html_is_shown_literally_in_the_scorecard():
    from outreach.tasks.scorecard import scorecard as sc

    rows = [{"branch": NASTY_BRANCH, "indicator": n, "numerator": 1, "denominator": 2,
             "percent": 50.0, "change": None, "goal": 90, "status": "red"}
            for n in sc.INDICATORS]
    md = sc.scorecard_markdown(rows, "2026-Q2")
    line = next(x for x in md.splitlines() if "x" in x and "y" in x and "z" in x)
    assert r"\*\*x\*\* &lt;b&gt;y&lt;/b&gt; \| z" in line
    assert "<b>" not in md and "**x**" not in md
    # the row keeps its cells: the branch's "|" did not add a column
    assert line.count(" | ") == len(sc.INDICATORS)


def test_the_coverage_markdown_and_every_table_cell_are_escaped_too():
    from outreach.tasks.campaigns import coverage as cov

    rows = [{"branch": NASTY_BRANCH, "members": 2, "reached": 1, "overdue": 0,
             "unreachable": 0, "never_reached_3": 0},
            {"branch": "TOTAL", "members": 2, "reached": 1, "overdue": 0, "unreachable": 0,
             "never_reached_3": 0}]
    md = cov.coverage_markdown(rows)
    assert r"| \*\*x\*\* &lt;b&gt;y&lt;/b&gt; \| z | 2 |" in md and "<b>" not in md
    pytest.importorskip("prefect")
    from outreach.flows import common

    got = common.table_rows([{"branch": NASTY_BRANCH, "name": "- [a](http://e.invalid)",
                              "members": 3}])
    assert got == [{"branch": r"\*\*x\*\* &lt;b&gt;y&lt;/b&gt; \| z",
                    "name": r"\- \[a\](http://e.invalid)", "members": 3}]


# --- a name starting with '= round-trips exactly ---------------------------------------------


@pytest.mark.parametrize("excel", [False, True], ids=["csv", "xlsx"])
def test_a_name_starting_with_apostrophe_equals_comes_back_exactly(session, excel):
    boss = f.actor(session, f.coordinator(session))
    br = f.branch(session, name="Quote-branch")
    quoted = f.member(session, branch_=br, name="'=abc", home_address="'=1 Dock Rd")
    formula = f.member(session, branch_=br, name="=abc", home_address="+44 road")
    if excel:
        out = io.BytesIO()
        export_ledger_xlsx(session, out, actor=boss)
        data = out.getvalue()
    else:
        out = io.StringIO()
        export_ledger(session, out, actor=boss)
        data = out.getvalue().encode()
        lines = {ln.split(",", 1)[0]: ln for ln in out.getvalue().splitlines()}
        assert ",'=abc," in lines[formula.ledger_no]      # neutralised on export
        assert ",''=abc," in lines[quoted.ledger_no]      # its own apostrophe kept
    rows = {r["ledger_no"]: r for r in read_ledger(io.BytesIO(data))}
    assert (rows[quoted.ledger_no]["name"], rows[quoted.ledger_no]["home_address"]) \
        == ("'=abc", "'=1 Dock Rd")
    assert (rows[formula.ledger_no]["name"], rows[formula.ledger_no]["home_address"]) \
        == ("=abc", "+44 road")
    mine = [r for r in rows.values() if r["ledger_no"] in (quoted.ledger_no, formula.ledger_no)]
    res = import_ledger(session, mine, actor=boss)
    assert (res.updated, res.unchanged) == (0, 2)
    session.refresh(quoted)
    assert quoted.name == "'=abc"


def test_excel_keeps_a_leading_apostrophe_when_the_cell_is_edited():
    """Excel takes a typed leading apostrophe for its text mark: a cell holding ``'=abc``
    carries the quote prefix, so that editing it keeps the apostrophe."""
    import openpyxl

    from outreach.tasks.kernel.xlsxfile import workbook_bytes

    data = workbook_bytes(headers=["name"], rows=[["'=abc"], ["=abc"], ["plain"]])
    ws = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    cells = {c.value: c for c in ws["A"][1:]}
    assert cells["'=abc"].quotePrefix and cells["=abc"].quotePrefix
    assert not cells["plain"].quotePrefix


# --- a path that is not a file says what it is -----------------------------------------------


def test_a_folder_a_pipe_and_a_device_are_named_for_what_they_are(tmp_path):
    with pytest.raises(BadInput, match=r"is a folder, not a file") as err:
        must_be_file(tmp_path)
    assert "no such file" not in str(err.value)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(BadInput, match=r"pipe \(FIFO\), not a file"):
        must_be_file(fifo)  # refused without opening it (a reader would wait forever)
    with pytest.raises(BadInput, match=r"is a device, not a file"):
        must_be_file("/dev/null")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "s"))
        with pytest.raises(BadInput, match=r"is a socket, not a file"):
            must_be_file(tmp_path / "s")
    finally:
        sock.close()
    with pytest.raises(BadInput, match=r"no such file"):
        must_be_file(tmp_path / "missing.csv")
    (tmp_path / "ok.csv").write_text("x")
    os.symlink(tmp_path / "ok.csv", tmp_path / "link.csv")
    must_be_file(tmp_path / "ok.csv")
    must_be_file(tmp_path / "link.csv")
    for bad in (tmp_path, fifo):
        with pytest.raises(BadInput) as err:
            must_be_file(bad)
        assert "\n" not in str(err.value)


def test_importing_a_folder_says_so_at_the_command_line(db_url, tmp_path):
    from tests.cli.helpers import bootstrap, outreach

    coord, _vol = bootstrap()
    r = outreach("members", "import", str(tmp_path), code=coord)
    assert r.exit_code != 0
    assert r.stderr.strip().splitlines() == [f"outreach: {tmp_path} is a folder, not a file"]
