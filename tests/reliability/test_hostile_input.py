"""Hostile input (issue 6): malformed and hostile CSV files, SQL-ish and control characters,
absurd dates and a database at another migration.

Every case must end in one of two ways. Either the command does what the input asks, and
text comes back exactly as it was given. Or it refuses, with exit code 1 or 2, one
``outreach: …`` line on stderr (importers may list the problems by line below that line),
no traceback, and the database unchanged. Contact details from a file (phones, addresses)
never appear in a message, and every CSV we write neutralises spreadsheet formulas.

Hypothesis drives the ledger import (``outreach members import``), the results import
(``outreach outcomes import``, and beneath it ``tasks.work.results``, which the flow's tasks run)
and the CLI's argv. Each fuzz body counts its cases; the module prints the counts at its
end ("hostile input: …"), and each test checks that it ran as many as it is configured for.
The results import goes through a Prefect flow (about a second a file), so the CLI fuzz of
it is small and marked slow; the many cases run against ``tasks.work.results`` directly.

The single-case tests below the fuzzes hold the bugs the fuzzes found (each docstring
says what it was: absurd dates that crashed or were written, refusals quoting contact
details, rows wider than their header, raw formulas in CSV outputs, control characters in
names, arguments that crashed a command, odd database states). The fuzz tests do not
shrink (see `fuzz`); a failure names its input.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, inspect, select, text

from outreach.db import migrate
from outreach.db import session as db_session
from outreach.db.errors import BadInput
from outreach.db.machines import TaskStatus as TS
from outreach.db.models import (
    Attempt,
    Branch,
    CampaignKind,
    Member,
    MemberChange,
    OutreachTask,
    Volunteer,
)
from outreach.db.session import make_engine, session_scope
from outreach.tasks.access.permissions import authenticate
from outreach.tasks.ledger.book import MAX_LEN
from outreach.tasks.work.results import apply_results, read_results
from tests.cli.helpers import bootstrap, first_code, outreach
from tests.db import factories as f

PG_URL = os.environ.get("OUTREACH_TEST_DATABASE_URL")
TODAY = dt.date(2026, 11, 2)
K = CampaignKind

# How many cases each fuzz tries. A results file through the CLI is a Prefect flow run
# (about 1.1 s), so that one is small; everything else stays near a second per hundred.
MEMBER_FILES = 250
WHOLE_FILE_CASES = 10   # per kind of file that is wrong as a whole (13 kinds, 12 for results)
ARBITRARY_FILES = 120
RESULT_FILES = 300
RESULT_FILES_CLI = 15
ARGV = 300
COUNTS = {"member files": 0, "arbitrary member files": 0, "result files": 0,
          "result files cli": 0, "refused result files cli": 0, "argv": 0}


def fuzz(n: int):
    """Hypothesis settings for a fuzz of ``n`` cases against a committed database.

    No shrinking: a case costs a command against a database that grows, and shrinking a
    failure took more than five minutes; the failing case is printed as found (and saved,
    so the next run tries it first)."""
    return settings(max_examples=n, deadline=None, print_blob=True,
                    phases=(Phase.explicit, Phase.reuse, Phase.generate),
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much,
                                           HealthCheck.large_base_example])


@pytest.fixture(scope="module", autouse=True)
def _one_click_command():
    """typer's CliRunner turns the Typer app into a click command on every call, which
    costs about 75 ms here, more than most commands; build it once for this module."""
    import typer.testing

    built = {}

    def get_command(app):
        if id(app) not in built:
            built[id(app)] = (app, original(app))
        return built[id(app)][1]

    original = typer.testing._get_command
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(typer.testing, "_get_command", get_command)
        yield


@pytest.fixture(scope="module", autouse=True)
def _print_counts(request):
    """Print how many hostile cases this module tried, whatever ran."""
    yield
    c = COUNTS
    line = (f"hostile input: {c['member files']} member-import files "
            f"(+{c['arbitrary member files']} of arbitrary bytes), {c['result files']} result "
            f"files through tasks.work.results (+{c['result files cli']} through the CLI and "
            f"Prefect, +{c['refused result files cli']} refused whole by the CLI), "
            f"{c['argv']} argv")
    plugins = request.config.pluginmanager
    reporter, capture = plugins.getplugin("terminalreporter"), plugins.getplugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():  # what capsys.disabled() does
        reporter.write_line("")
        reporter.write_line(line)


# --- what every hostile case is held to ----------------------------------------------------

#: Contact details planted in the wrong places of hostile rows: never in any message.
PHONE_MARK = "555 0199"
ADDRESS_MARK = "12 Elm Street"
MARKS = (PHONE_MARK, ADDRESS_MARK)
PROBLEM = re.compile(r"^line (\d+): \S")
MORE = re.compile(r"^… and \d+ more$")
FORMULA = ("=", "+", "-", "@", "\t", "\r")
PHONE_SHAPED = re.compile(r"^[0-9 +\-().#*/x]*$")


class CONTROL:
    """What no stored text may hold (README, "Text a person typed", issue 24): control
    characters but the new line (a tab too), Unicode's format characters (bidi overrides
    and isolates, zero-width spaces and joiners, the BOM, the soft hyphen …), the line and
    paragraph separators, lone surrogates."""

    @staticmethod
    def search(text: str) -> bool:
        import unicodedata

        return any(c != "\n" and unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")
                   for c in text)

TABLES = ("branches", "volunteers", "members", "member_changes", "member_status_changes",
          "campaigns", "campaign_runs", "outreach_tasks", "task_status_changes", "attempts")
#: Written on purpose by a refused command: the count of wrong access codes in a row.
NOT_COMPARED = {"volunteers": {"failed_logins"}}


def cli(*args: str, code: str | None = None, input: str | None = None):
    """One command in-process; an exception escaping it is a failure in itself (the real
    console script would print "internal error", which is no clear message either)."""
    try:
        return outreach(*args, code=code, input=input)
    except Exception as exc:  # noqa: BLE001 - that anything escapes is the finding
        shown_args = " ".join(repr(a)[:80] for a in args)
        pytest.fail(f"outreach {shown_args} raised {exc.__class__.__name__}: {str(exc)[:300]}",
                    pytrace=False)


def refusal(r, *, codes=(1, 2), usage: bool = False) -> list[str]:
    """Check a refusal: exit 1 or 2, one ``outreach: …`` line, then only problem lines
    (or, with ``usage``, the argument parser's own usage error, exit 2)."""
    assert r.exit_code in codes, f"exit {r.exit_code}, expected a refusal: {r.output[-600:]}"
    assert "Traceback" not in r.output
    lines = r.stderr.rstrip("\n").split("\n")
    if usage and r.exit_code == 2 and (lines[0].startswith("Usage: ")
                                       or lines[0].startswith("╭─ Error")):
        return lines
    assert lines[0].startswith("outreach: ") and lines[0][10:].strip(), r.stderr[:600]
    assert "internal error" not in lines[0], lines[0]
    for ln in lines[1:]:
        assert PROBLEM.match(ln) or MORE.match(ln), f"not a problem line: {ln[:200]!r}"
    return lines


def no_contact_details(r) -> None:
    leaked = [m for m in MARKS if m in r.output]
    assert not leaked, f"contact details {leaked} in the command's output: {r.output[:800]}"


def snapshot(eng, tables=TABLES) -> dict[str, str]:
    """A digest of every row of every table: equal digests, nothing written (the count of
    wrong access codes aside, which a refusal writes on purpose)."""
    out = {}
    with eng.connect() as conn:
        for t in tables:
            cols = "*"
            if t in NOT_COMPARED:
                cols = ", ".join(c["name"] for c in inspect(conn).get_columns(t)
                                 if c["name"] not in NOT_COMPARED[t])
            rows = conn.execute(text(f"SELECT {cols} FROM {t}")).all()
            out[t] = hashlib.sha256("\n".join(sorted(repr(tuple(r)) for r in rows))
                                    .encode()).hexdigest()
    return out


def changed(before: dict, after: dict) -> list[str]:
    return [t for t in before if before[t] != after[t]]


def newlines(s: str) -> int:
    """Line breaks as Python's csv reader counts them (and people see in an editor)."""
    return len(re.findall(r"\r\n|\r|\n", s))


def cells(values: list[str], term: str, raw: dict[int, str] | None = None) -> str:
    """One CSV record (RFC 4180 quoting: Python's writer leaves a lone CR unquoted when the
    line ends in LF); ``raw`` puts tokens in verbatim (broken quoting) at those indexes."""
    raw = raw or {}

    def quote(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if re.search(r'[,"\r\n]', v) else v

    return ",".join(raw[i] if i in raw else quote(v) for i, v in enumerate(values)) + term


def encode(text_: str, encoding: str) -> tuple[bytes, bool]:
    """The file's bytes and whether it still reads as the same UTF-8 text (the contract:
    "UTF-8, with or without BOM"). A text that a legacy codec cannot hold, or that comes
    out as different but valid UTF-8, is written as UTF-8 instead."""
    if encoding == "double-bom":
        return b"\xef\xbb\xbf\xef\xbb\xbf" + text_.encode(), False
    try:
        data = text_.encode(encoding)
    except UnicodeEncodeError:
        return text_.encode(), True
    try:
        back = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data, False
    if "\x00" in back:
        return data, False
    if back != text_:
        return text_.encode(), True
    return data, True


SAFE_CHARS = st.one_of(st.characters(blacklist_categories=("Cs", "Cc")),
                       st.sampled_from(["\t", "\n", " ", ",", '"', "'", ";", "="]))
NASTY = [
    "Robert'); DROP TABLE members;--", "1' OR '1'='1", '"; DELETE FROM volunteers; --',
    "=cmd|' /C calc'!A0", '=HYPERLINK("http://example.invalid","click")', "+SUM(1,2)",
    "-2+3+cmd|' /C calc'!A0", "@SUM(A1:A2)", "'=1+1", "'@x", "'-x", "O'Brien", "Wang, Li",
    '"quoted"', "two\nlines", "tab\there", "Zoë Ångström", "王秀英", "محمد", "\u202eevil\u202c",
    "grandma 👵🏽", "%s %d {0} ${HOME} $(id)", "\\N", "NULL", "  padded  ", "a;b;c",
    "<script>alert(1)</script>", "\u2028line\u2029para", "x\u0301\u0301",
]
FORMULA_PREFIXES = ["=", "+", "-", "@", "'=", "'+", "'-", "'@", "'\t", " ", "'"]


def norm(v: str) -> str:
    """What the ledger import keeps of a cell (README: surrounding blanks go, and the
    leading apostrophe that export puts before a formula character or before another
    apostrophe is taken off)."""
    s = v.strip()
    if len(s) > 1 and s[0] == "'" and s[1] in "=+-@\t\r'":
        s = s[1:]
    return s


def free_text(limit: int, *, required: bool = False, note: bool = False):
    """Nasty but acceptable text of at most ``limit`` characters."""
    keep = (lambda v: v.strip()) if note else norm
    return st.one_of(
        st.sampled_from(NASTY),
        st.text(SAFE_CHARS, max_size=min(limit, 40)),
        st.builds(lambda p, t: p + t, st.sampled_from(FORMULA_PREFIXES),
                  st.text(SAFE_CHARS, min_size=1, max_size=20)),
        st.just("x" * limit), st.just("  " + "y" * limit + " \n "),
    ).filter(lambda v: len(keep(v)) <= limit and (keep(v) or not required)
             and not CONTROL.search(keep(v)) and not any(m in v for m in MARKS))


# --- the ledger file (members import) --------------------------------------------------------

LEDGER_COLUMNS = ("ledger_no", "name", "birth_date", "phone", "branch", "residence",
                  "home_address", "current_address", "homebound", "family_contact_name",
                  "family_contact_phone")
PHONE_COLUMNS = ("phone", "family_contact_phone")
TRUE = {"yes", "true", "1", "y"}
BASE_MEMBERS = 5
#: A first line that is data, not the header: the refusal must not quote it back.
CONTACT_ROW = f"Q1,Mary Quinn,1940-01-01,{PHONE_MARK},North,local,{ADDRESS_MARK},,no,Kim,555 0100"

PHONES = st.one_of(
    st.sampled_from(["", "+1 555 000", "-5", "(555) 010-0000 x12", "'+86 10 5555",
                     "  555 0100  ", "#31#", "+"]),
    st.from_regex(r"[0-9 +\-().#*/x]{0,40}", fullmatch=True),
).filter(lambda v: len(norm(v)) <= 40 and not any(m in v for m in MARKS))
_BORN = st.dates(dt.date(1900, 1, 1), dt.date(2000, 12, 31))
BIRTH_DATES = st.one_of(st.just(""), _BORN.map(str), _BORN.map(lambda d: f" {d} "))
_BRANCH_SAMPLES = ["North", "South", "=SUM(1+1)", "@branch", "北区",
                   "Robert'); DROP TABLE branches;--"]


def _kept_as_it_is(v: str) -> bool:
    """A fuzzed branch name the ledger stores unchanged and never takes for another one:
    branch names are NFC with single spaces and no invisible characters, and a new name
    that differs from a known one only by case or spacing is refused (issue 11, defect
    13; tests/tasks/test_people.py holds those refusals). So: no cased letters, no inner
    blanks, nothing `branch_name` changes or refuses, not a sample's look-alike."""
    from outreach.tasks.ledger.people import branch_name

    name = norm(v).strip()
    try:
        canonical = branch_name(name)
    except BadInput:
        return False
    return (canonical == name == name.casefold() and not any(c.isspace() for c in name)
            and name not in {b.casefold() for b in _BRANCH_SAMPLES})


BRANCHES = st.one_of(st.sampled_from(_BRANCH_SAMPLES),
                     free_text(MAX_LEN["branch"], required=True).filter(_kept_as_it_is))
TEXT = {col: free_text(MAX_LEN[col], required=col == "name")
        for col in ("name", "home_address", "current_address", "family_contact_name")}


@st.composite
def member_values(draw) -> dict[str, str]:
    """The cells of a good row (ledger_no set by the caller): nasty, yet acceptable."""
    return {
        "name": draw(TEXT["name"]),
        "birth_date": draw(BIRTH_DATES),
        "phone": draw(PHONES),
        "branch": draw(BRANCHES),
        "residence": draw(st.sampled_from(["", "local", "away", "LOCAL", "Away", " away "])),
        "home_address": draw(TEXT["home_address"]),
        "current_address": draw(TEXT["current_address"]),
        "homebound": draw(st.sampled_from(["", "yes", "no", "true", "false", "1", "0", "y",
                                           "n", "YES", "No", " y "])),
        "family_contact_name": draw(TEXT["family_contact_name"]),
        "family_contact_phone": draw(PHONES),
    }


def expected_member(v: dict[str, str]) -> dict:
    n = {k: norm(x) for k, x in v.items()}
    n["branch"] = n["branch"].strip()  # a branch name is stripped once more ("'\t0" → "0")
    return {
        "name": n["name"], "birth_date": dt.date.fromisoformat(n["birth_date"])
        if n["birth_date"] else None, "phone": n["phone"] or None, "branch": n["branch"],
        "residence": n["residence"].lower() or "local", "home_address": n["home_address"] or None,
        "current_address": n["current_address"] or None, "homebound": n["homebound"].lower()
        in TRUE, "family_contact_name": n["family_contact_name"] or None,
        "family_contact_phone": n["family_contact_phone"] or None,
    }


CONTROL_CHARS = [chr(c) for c in range(1, 9)] + ["\x0b", "\x0c", "\r", "\x0e", "\x1b",
                                                 "\x1f", "\x7f"]
ABSURD_BIRTH = ["0000-01-01", "0001-01-01", "1879-12-31", "2026-02-30", "2026-13-01",
                "9999-12-31", "-1", "1e9", "1940-1-1", "1940/02/30", "1940年13月1日", "31.12.1940", "19400101",
                "1940-01-01T00:00", "٢٠٢٠-٠١-٠١", "tomorrow", PHONE_MARK,
                "'); DROP TABLE members;--", "=DATE(1940,1,1)"]
MEMBER_HOSTILE = {
    "control": st.tuples(st.sampled_from(list(MAX_LEN)), st.sampled_from(CONTROL_CHARS)),
    "too long": st.sampled_from(list(MAX_LEN)),
    "birth date": st.sampled_from(ABSURD_BIRTH),
    "residence": st.sampled_from(["abroad", ADDRESS_MARK, "'); DROP TABLE members;--", "=1+1",
                                  "2", "locally"]),
    "homebound": st.sampled_from(["maybe", PHONE_MARK, "2", "-1", "'); DROP", "yess"]),
    "phone": st.tuples(st.sampled_from(PHONE_COLUMNS),
                       st.sampled_from(["555-CALL-NOW", "=cmd|' /C calc'!A0", ADDRESS_MARK,
                                        "1'; DROP TABLE members;--", "@555"])),
    "required": st.tuples(st.sampled_from(["ledger_no", "name", "branch"]),
                          st.sampled_from(["", "   ", "\t"])),
    "width": st.sampled_from([2, 10, 12, 15]),
    "duplicate": st.integers(0, 50),
    "quote": st.none(),          # "Mary"Smith: text after a closing quote
    "huge": st.sampled_from(list(LEDGER_COLUMNS)),  # a field over csv's limit
    "unclosed": st.none(),       # a quote never closed: the file ends inside it
}


@dataclass
class MemberRow:
    what: str                    # valid | update | hostile
    values: dict[str, str]
    prefix: str = ""             # before a valid row's ledger number: =, +, ', …
    base: int = 0                # update: which base member
    kind: str = ""               # hostile: which kind
    param: object = None
    blank_before: str = ""       # "", "blank" (a blank line) or ",,,…" (an empty record)


@dataclass
class LedgerFile:
    header: str
    order: list[str]
    rows: list[MemberRow]
    encoding: str
    terminator: str
    damage: str | None
    damage_at: float
    junk: bytes


FILE_PROBLEMS = ["missing", "extra", "duplicate", "case", "none", "empty", "latin-1",
                 "cp1252", "utf-16", "utf-16-le", "double-bom", "nul", "bytes"]


@st.composite
def ledger_files(draw, problem: str | None = None) -> LedgerFile:
    """A clean file or one with hostile rows; with ``problem``, a file wrong as a whole
    (its header, its encoding, a NUL or bytes that are no UTF-8)."""
    mode = "file" if problem else draw(st.sampled_from(["clean", "clean", "rows"]))
    header = "ok"
    if mode == "clean":
        header = draw(st.sampled_from(["ok", "ok", "shuffled", "padded"]))
    elif problem in ("missing", "extra", "duplicate", "case", "none", "empty"):
        header = problem
    order = list(LEDGER_COLUMNS)
    if header == "shuffled":
        order = draw(st.permutations(LEDGER_COLUMNS))
    rows: list[MemberRow] = []
    used: set[int] = set()
    for _ in range(draw(st.integers(0, 7))):
        what = draw(st.sampled_from(["valid"] * 4 + ["update"] + ["hostile"] * (
            3 if mode == "rows" else 1 if mode == "file" else 0)))
        row = MemberRow(what, draw(member_values()),
                        prefix=draw(st.sampled_from(["", "", "", "=", "+", "-", "@", "'=",
                                                     "'-", " ", "'", "O'Brien');--"])),
                        blank_before=draw(st.sampled_from(["", "", "", "", "blank",
                                                           ",,,,,,,,,,"])))
        if what == "update":
            row.base = draw(st.integers(0, BASE_MEMBERS - 1))
            if row.base in used:
                row.what = "valid"
            used.add(row.base)
        if what == "hostile":
            row.kind = draw(st.sampled_from(sorted(MEMBER_HOSTILE)))
            row.param = draw(MEMBER_HOSTILE[row.kind])
        rows.append(row)
    if mode == "rows" and not any(r.what == "hostile" for r in rows):
        kind = draw(st.sampled_from(sorted(MEMBER_HOSTILE)))
        rows.append(MemberRow("hostile", draw(member_values()), kind=kind,
                              param=draw(MEMBER_HOSTILE[kind])))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "latin-1"]))
    if problem in ("latin-1", "cp1252", "utf-16", "utf-16-le", "double-bom"):
        encoding = problem
        values = draw(member_values())
        values["name"] = "Zoë Ångström"  # a legacy codec writes this as no UTF-8
        rows.append(MemberRow("valid", values))
    return LedgerFile(
        header=header, order=order, rows=rows, encoding=encoding,
        terminator=draw(st.sampled_from(["\n", "\r\n"])),
        damage=problem if problem in ("nul", "bytes") else None,
        damage_at=draw(st.floats(0, 1)), junk=draw(st.binary(max_size=6)))


@dataclass
class Expect:
    refuse: str | None = None             # None, "file" (whole file) or "rows"
    hostile_lines: list[int] = field(default_factory=list)
    all_hostile_lines: set[int] = field(default_factory=set)
    new: dict[str, dict] = field(default_factory=dict)       # ledger_no → fields
    updates: dict[str, dict] = field(default_factory=dict)


def render_ledger(spec: LedgerFile, prefix: str) -> tuple[bytes, Expect]:
    """The file's bytes and what the import must do with them."""
    exp = Expect()
    term = spec.terminator
    header_ok = spec.header in ("ok", "shuffled", "padded")
    names = list(spec.order)
    if spec.header == "padded":
        names = [f" {n} " for n in names]
    elif spec.header == "missing":
        names = names[:3] + names[4:]
    elif spec.header == "extra":
        names = names + ["notes"]
    elif spec.header == "duplicate":
        names = names[:-1] + [names[1]]
    elif spec.header == "case":
        names = [n.capitalize() for n in names]
    order = list(spec.order) if spec.header in ("ok", "shuffled", "padded") else \
        list(LEDGER_COLUMNS)
    pieces: list[str] = []
    if spec.header == "empty":
        pieces = []
    else:
        pieces.append((CONTACT_ROW if spec.header == "none" else ",".join(names)) + term)
    line = 2
    valid_numbers: list[str] = []
    checking = True
    for i, row in enumerate(spec.rows if spec.header != "empty" else []):
        if row.blank_before:
            pieces.append(("" if row.blank_before == "blank" else row.blank_before) + term)
            line += 1
        values = dict(row.values)
        if row.what == "update":
            values["ledger_no"] = f"BASE-{row.base}"
        elif row.what == "valid":
            values["ledger_no"] = f"{row.prefix}{prefix}-{i}"
        else:
            values["ledger_no"] = f"{prefix}-h{i}"
        raw: dict[int, str] = {}
        width = None
        breaks = truncate = False
        kind, p = row.kind, row.param
        if row.what == "hostile":
            if kind == "control":
                values[p[0]] = "Ma" + p[1] + "ry"
            elif kind == "too long":
                values[p] = ("5" if p in PHONE_COLUMNS else "x") * (MAX_LEN[p] + 1)
            elif kind == "birth date":
                values["birth_date"] = p
            elif kind in ("residence", "homebound"):
                values[kind] = p
            elif kind in ("phone", "required"):
                values[p[0]] = p[1]
            elif kind == "width":
                width = p
            elif kind == "duplicate":
                if valid_numbers:
                    values["ledger_no"] = " " + valid_numbers[p % len(valid_numbers)] + " "
                else:
                    values["name"] = ""
            elif kind == "quote":
                raw[order.index("name")] = '"Mary"Smith'
                breaks = True
            elif kind == "huge":
                values[p] = "x" * 70_000
                breaks = True
            elif kind == "unclosed":
                raw[order.index("name")] = '"Mary'
                breaks = truncate = True
        cells_ = [values[c] for c in order]
        if width is not None:
            cells_ = (cells_ + ["extra"] * 10)[:width]
        record = cells(cells_, term, raw)
        pieces.append(record)
        if row.what == "hostile":
            exp.all_hostile_lines.add(line)
            if checking:
                exp.hostile_lines.append(line)
        elif row.what == "update":
            exp.updates[f"BASE-{row.base}"] = expected_member(values)
        else:
            number = norm(values["ledger_no"])
            valid_numbers.append(values["ledger_no"])
            exp.new[number] = expected_member(values)
        if breaks:
            checking = False
        line += newlines(record)
        if truncate:
            break
    text_ = "".join(pieces)
    if spec.damage == "nul":
        at = int(spec.damage_at * len(text_))
        text_ = text_[:at] + "\x00" + text_[at:]
    data, same = encode(text_, spec.encoding)
    if spec.damage == "bytes":
        at = int(spec.damage_at * len(data))
        data = data[:at] + b"\xff" + spec.junk + data[at:]
    if spec.damage or not same or not header_ok:
        exp.refuse = "file"
    elif exp.all_hostile_lines:
        exp.refuse = "rows"
    return data, exp


MEMBER_FIELDS = ("name", "birth_date", "phone", "branch", "residence", "home_address",
                 "current_address", "homebound", "family_contact_name", "family_contact_phone")


def members_by_number(eng, numbers) -> dict[str, dict]:
    stmt = (select(Member.ledger_no, Member.name, Member.birth_date, Member.phone,
                   Branch.name, Member.residence, Member.home_address, Member.current_address,
                   Member.homebound, Member.family_contact_name, Member.family_contact_phone)
            .join(Branch, Branch.id == Member.branch_id)
            .where(Member.ledger_no.in_(list(numbers))))
    with eng.connect() as conn:
        rows = conn.execute(stmt).all()
    out = {}
    for row in rows:
        d = dict(zip(MEMBER_FIELDS, row[1:]))
        d["residence"] = str(d["residence"])
        d["homebound"] = bool(d["homebound"])
        out[row[0]] = d
    return out


def history_size(eng) -> tuple[int, ...]:
    """Rows of the tables every write adds to (history tables refuse UPDATE and DELETE)."""
    with eng.connect() as conn:
        return tuple(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                     for t in ("attempts", "task_status_changes", "member_changes",
                               "member_status_changes"))


def count(eng, model) -> int:
    with eng.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def risky(cell: str) -> bool:
    """A cell a spreadsheet would run as a formula, as the ledger export promises to
    neutralise: everything starting with = + - @ tab or CR except a phone-number shape."""
    if not cell or cell[0] not in FORMULA:
        return False
    return not (cell[0] in "+-" and PHONE_SHAPED.match(cell))


def unescape(cell: str) -> str:
    return cell[1:] if len(cell) > 1 and cell[0] == "'" and cell[1] in "=+-@\t\r'" else cell


@pytest.fixture
def ledger(db_url, tmp_path):
    """A coordinator and five base members (``BASE-0`` …) that update rows change."""
    coord, vol = bootstrap()
    base = tmp_path / "base.csv"
    base.write_text(",".join(LEDGER_COLUMNS) + "\n" + "".join(
        f"BASE-{i},Base Member {i},1940-01-0{i + 1},555 01{i:02d},North,local,{i} Main St,,no,,\n"
        for i in range(BASE_MEMBERS)))
    assert cli("members", "import", str(base), code=coord).exit_code == 0
    eng = make_engine(db_url)
    yield SimpleNamespace(coord=coord, vol=vol, eng=eng, dir=tmp_path)
    eng.dispose()


def expected_changes(old: dict, new: dict) -> int:
    return sum(1 for k in MEMBER_FIELDS if old[k] != new[k])


def check_ledger_file(ctx, spec: LedgerFile) -> None:
    prefix = f"Z{uuid.uuid4().hex[:8]}"
    data, exp = render_ledger(spec, prefix)
    path = ctx.dir / "ledger.csv"
    path.write_bytes(data)
    before = snapshot(ctx.eng)
    old = members_by_number(ctx.eng, exp.updates)
    members_before = count(ctx.eng, Member)
    history_before = count(ctx.eng, MemberChange)
    r = cli("members", "import", str(path), code=ctx.coord)
    no_contact_details(r)
    if exp.refuse:
        lines = refusal(r, codes=(2,))
        assert not changed(before, snapshot(ctx.eng)), "a refused file wrote something"
        if exp.refuse == "rows":
            reported = {int(m.group(1)) for ln in lines[1:] for m in [PROBLEM.match(ln)] if m}
            missing = [n for n in exp.hostile_lines if n not in reported]
            assert not missing, f"hostile lines {missing} not reported: {lines}"
            wrong = reported - exp.all_hostile_lines
            assert not wrong, f"good lines {sorted(wrong)} reported as bad: {lines}"
        return
    assert r.exit_code == 0, f"a good file was refused: {r.output[:1500]}"
    m = re.match(r"imported ledger\.csv: (\d+) new, (\d+) updated \((\d+) field changes "
                 r"recorded\), (\d+) unchanged", r.stdout)
    assert m, r.stdout
    new, updated, changes, unchanged = map(int, m.groups())
    want_changes = sum(expected_changes(old[n], exp.updates[n]) for n in exp.updates)
    assert new == len(exp.new) and updated + unchanged == len(exp.updates)
    assert changes == want_changes and updated == sum(
        1 for n in exp.updates if expected_changes(old[n], exp.updates[n]))
    stored = members_by_number(ctx.eng, list(exp.new) + list(exp.updates))
    for number, want in {**exp.new, **exp.updates}.items():
        assert stored.get(number) == want, f"{number!r} stored as {stored.get(number)}, " \
                                           f"given {want}"
    assert count(ctx.eng, Member) == members_before + new
    assert count(ctx.eng, MemberChange) == history_before + changes
    after = snapshot(ctx.eng)
    others = [t for t in changed(before, after)
              if t not in ("members", "member_changes", "branches", "member_status_changes")]
    assert not others, f"a ledger import changed {others}"
    if exp.new or exp.updates:
        check_export(ctx, set(exp.new) | set(exp.updates))


def check_export(ctx, numbers: set[str]) -> None:
    """The export neutralises formulas and imports back unchanged."""
    out = ctx.dir / "export.csv"
    r = cli("members", "export", str(out), "--force", code=ctx.coord)
    assert r.exit_code == 0, r.output
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert tuple(rows[0]) == LEDGER_COLUMNS
    mine = [row for row in rows[1:] if unescape(row[0]) in numbers]
    assert len(mine) == len(numbers)
    for row in mine:
        for col, cell in zip(LEDGER_COLUMNS, row):
            assert not risky(cell), f"export left a formula in {col}: {cell[:80]!r}"
    again = ctx.dir / "again.csv"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([rows[0]] + mine)
    again.write_text(buf.getvalue(), encoding="utf-8")
    r = cli("members", "import", str(again), code=ctx.coord)
    assert r.exit_code == 0 and f"0 new, 0 updated (0 field changes recorded), {len(mine)} " \
                                "unchanged" in r.stdout, r.output[:1000]


@pytest.mark.slow  # hundreds of generated files: CI runs it, the edit loop does not
def test_ledger_import_fuzz(ledger):
    """Ledger files mixing good rows with hostile ones (broken quotes, huge fields, formula
    prefixes, SQL, control characters, absurd dates, wrong widths, duplicate numbers, BOMs,
    CRLF, blank lines): all or nothing, every bad line named and no good one, good text
    stored exactly, and the export of it safe for spreadsheets and importing back."""
    start = COUNTS["member files"]

    @fuzz(MEMBER_FILES)
    @given(spec=ledger_files())
    def one(spec):
        COUNTS["member files"] += 1
        check_ledger_file(ledger, spec)

    one()
    assert COUNTS["member files"] - start >= MEMBER_FILES


@pytest.mark.parametrize("problem", FILE_PROBLEMS)
def test_ledger_files_wrong_as_a_whole_fuzz(ledger, problem):
    """Each way a file can be wrong as a whole — a missing, extra, repeated or misspelt
    column, no header row, an empty file, Latin-1, CP1252, UTF-16 with and without BOM, two
    BOMs, a NUL, bytes that are no UTF-8 — around otherwise random rows: refused whole,
    one clear message, nothing written, no contact details quoted."""
    start = COUNTS["member files"]

    @fuzz(WHOLE_FILE_CASES)
    @given(spec=ledger_files(problem=problem))
    def one(spec):
        COUNTS["member files"] += 1
        check_ledger_file(ledger, spec)

    one()
    assert COUNTS["member files"] - start >= WHOLE_FILE_CASES


CHUNKS = st.sampled_from([b",", b"\n", b"\r\n", b'"', b'""', b"\xef\xbb\xbf", b"\x00", b"\xff",
                          b"A1,Mary,,,North,,,,,,\n", "é".encode("latin-1"), "é".encode(),
                          b"=cmd|' /C calc'!A0", b"\x1b[2J", b"'); DROP TABLE members;--"])


def test_arbitrary_bytes_never_crash_the_ledger_import(ledger):
    """Whatever the bytes after the header: applied whole (counts add up) or refused with
    the designed message and nothing written."""
    start = COUNTS["arbitrary member files"]
    header = ",".join(LEDGER_COLUMNS).encode() + b"\n"

    @fuzz(ARBITRARY_FILES)
    @given(with_header=st.booleans(),
           body=st.lists(st.one_of(CHUNKS, st.binary(max_size=30)), max_size=12))
    def one(with_header, body):
        COUNTS["arbitrary member files"] += 1
        path = ledger.dir / "bytes.csv"
        path.write_bytes((header if with_header else b"") + b"".join(body))
        before, members = snapshot(ledger.eng), count(ledger.eng, Member)
        r = cli("members", "import", str(path), code=ledger.coord)
        if r.exit_code == 0:
            m = re.match(r"imported bytes\.csv: (\d+) new", r.stdout)
            assert m and count(ledger.eng, Member) == members + int(m.group(1)), r.output
        else:
            refusal(r, codes=(2,))
            assert not changed(before, snapshot(ledger.eng))

    one()
    assert COUNTS["arbitrary member files"] - start >= ARBITRARY_FILES


def test_ledger_refusals_do_not_quote_contact_details(ledger):
    """Found by the fuzz (fixed): a refusal quotes cells back. A ledger file without its
    header row gets every cell of its first row echoed as "unknown" header names, and a
    phone number that slipped into birth_date is echoed as "not a date" — both land in
    the terminal and in logs."""
    cases = {
        "no header row": CONTACT_ROW + "\n",
        "phone in birth_date": ",".join(LEDGER_COLUMNS) + "\n"
        + f"A1,Mary,{PHONE_MARK},,North,local,,,no,,\n",
        "address in birth_date": ",".join(LEDGER_COLUMNS) + "\n"
        + f"A1,Mary,{ADDRESS_MARK},,North,local,,,no,,\n",
    }
    leaks = []
    for name, body in cases.items():
        path = ledger.dir / "leak.csv"
        path.write_text(body)
        r = cli("members", "import", str(path), code=ledger.coord)
        refusal(r, codes=(2,))
        if any(m in r.output for m in MARKS):
            leaks.append(f"{name}: {r.stderr.strip()[:300]}")
    assert not leaks, "contact details in refusals:\n" + "\n".join(leaks)


# --- the results file (outcomes import) ------------------------------------------------------

RESULT_COLUMNS = ("task_id", "outcome", "note", "answers", "date")
SHEET_EXTRA = {"member": "Mary Quinn", "phone": PHONE_MARK, "address": ADDRESS_MARK}
SURVEY_ANSWERS = [
    "phone=555 0100; address=1 New Road; residence=local; homebound=no",
    "phone=same; address=same; residence=same; homebound=yes",
    json.dumps({"phone": "+1 555 000", "address": "=cmd|' /C calc'!A0", "residence": "away",
                "homebound": "no"}),
    json.dumps({"phone": "same", "address": "Robert'); DROP TABLE members;--",
                "residence": "local", "homebound": "0"}),
]
VALID_RESULT = {
    "attempt": ("phone_visit", ["no_answer", "left_message", "callback_requested",
                                "wrong_number", "temporarily_away", "NO_ANSWER",
                                " no_answer "]),
    "done": ("phone_visit", ["reached", "refused", "Reached"]),
    "survey": ("survey", ["reached"]),
    "delivery": ("delivery", ["delivered", "delivered_to_family", "not_home"]),
}
DONE_OUTCOMES = {"reached", "refused", "delivered", "delivered_to_family"}
ABSURD_DATES = ["0000-01-01", "0001-01-01", "9999-12-31", "2026-02-30", "2026-13-01", "-1",
                "1e9", "2026-11-31", PHONE_MARK, "'); DROP TABLE attempts;--", "31.12.2026",
                "٢٠٢٦-١١-٠١", "2026-11-02x"]
RESULT_HOSTILE = {
    "task id": st.sampled_from(["abc", "²", "١٢", "-1", "1e9", "1.0", "0x10", "+5", " ",
                                "'); DROP TABLE outreach_tasks;--", "=1+1", "9" * 40,
                                PHONE_MARK]),
    "unknown task": st.sampled_from(["999999999", "2147483648", "0"]),
    "outcome": st.sampled_from(["teleported", "=cmd|' /C calc'!A0", ADDRESS_MARK, "",
                                "'); DROP TABLE attempts;--", "reached\x1b"]),
    "unfitting": st.sampled_from(["delivered", "delivered_to_family"]),
    "note": st.sampled_from(["rang\x1btwice", "a\x07b", "a\rb", "x" * 2001]),
    "date": st.sampled_from(ABSURD_DATES),
    "answers": st.sampled_from(["phone", "{bad json", "[1, 2]", "shoe=9",
                                f"phone={PHONE_MARK}", f"address={ADDRESS_MARK}"]),
    "survey without answers": st.none(),
    "closed task": st.none(),
    "extra fields": st.sampled_from(["and then some", PHONE_MARK]),
    "short": st.none(),
}
RESULT_WHOLE = ["latin-1", "utf-16", "nul", "bytes", "no task_id", "no outcome", "empty",
                "bom only", "no header", "unclosed", "quote", "huge"]


@dataclass
class ResultRow:
    what: str          # valid kind, or "hostile"
    outcome: str
    note: str
    date: str
    answers: str = ""
    kind: str = ""
    param: object = None
    blank_before: bool = False


@dataclass
class ResultsFile:
    order: list[str]
    extra: bool
    rows: list[ResultRow]
    whole: str | None
    terminator: str
    at: float


NOTES = free_text(2000, note=True)
SHORT_NOTES = free_text(60, note=True)
RESULT_DATES = st.one_of(st.just(""), st.dates(dt.date(2020, 1, 1), TODAY).map(str),
                         st.just(" 2026-10-30 "))


@st.composite
def result_rows(draw, hostile: bool) -> ResultRow:
    if hostile:
        kind = draw(st.sampled_from(sorted(RESULT_HOSTILE)))
        return ResultRow("hostile", "no_answer", draw(SHORT_NOTES),
                         draw(RESULT_DATES), kind=kind, param=draw(RESULT_HOSTILE[kind]),
                         blank_before=draw(st.booleans()))
    what = draw(st.sampled_from(sorted(VALID_RESULT)))
    return ResultRow(what, draw(st.sampled_from(VALID_RESULT[what][1])),
                     draw(NOTES), draw(RESULT_DATES),
                     answers=draw(st.sampled_from(SURVEY_ANSWERS)) if what == "survey" else "",
                     blank_before=draw(st.booleans()))


@st.composite
def results_files(draw, whole: str | None = None) -> ResultsFile:
    """Good rows and hostile ones; with ``whole``, a file wrong as a whole that way."""
    mode = "whole" if whole else draw(st.sampled_from(["clean", "rows", "rows", "whole"]))
    rows = [draw(result_rows(hostile=mode == "rows" and draw(st.booleans())))
            for _ in range(draw(st.integers(0, 6)))]
    if mode == "rows" and not any(r.what == "hostile" for r in rows):
        rows.append(draw(result_rows(hostile=True)))
    order = draw(st.permutations(RESULT_COLUMNS))
    return ResultsFile(order=list(order), extra=draw(st.booleans()), rows=rows,
                       whole=whole or (draw(st.sampled_from(RESULT_WHOLE)) if mode == "whole"
                                       else None),
                       terminator=draw(st.sampled_from(["\n", "\r\n"])),
                       at=draw(st.floats(0, 1)))


@dataclass
class ResultsExpect:
    whole: bool = False
    rows: int = 0
    valid: list[dict] = field(default_factory=list)
    hostile: dict[int, int | None] = field(default_factory=dict)   # line → task id


class ResultsWorld:
    """A coordinator, a volunteer and a run of each kind; fresh tasks made per file."""

    def __init__(self, eng, coord_code: str, vol_code: str):
        self.eng, self.coord_code, self.vol_code = eng, coord_code, vol_code
        with session_scope(eng) as s:
            coord = s.get(Volunteer, int(coord_code.split("-")[0]))
            self.vol_id = int(vol_code.split("-")[0])
            self.branch_id = coord.branch_id
            self.actor = authenticate(s, coord_code)
            self.runs = {k: f.campaign_run(s, campaign_=f.campaign(s, kind=k, retry_days=2)).id
                         for k in (K.PHONE_VISIT, K.SURVEY, K.DELIVERY)}

    def tasks(self, kinds: list[tuple[str, str]]) -> list[int]:
        """New tasks, each for a new member: (kind, "assigned" or "done")."""
        from outreach.db.models import CampaignRun

        out = []
        with session_scope(self.eng) as s:
            vol = s.get(Volunteer, self.vol_id)
            branch = s.get(Branch, self.branch_id)
            for kind, state in kinds:
                run = s.get(CampaignRun, self.runs[K(kind)])
                member = f.member(s, branch_=branch)
                if state == "done":
                    t = f.task_in(s, "done", volunteer_=vol, run=run, member_=member,
                                  due_on=TODAY)
                else:
                    t = f.task(s, member_=member, run=run, status=TS.ASSIGNED, volunteer_=vol,
                               due_on=TODAY)
                out.append(t.id)
        return out


def render_results(spec: ResultsFile, world: ResultsWorld) -> tuple[bytes, ResultsExpect]:
    exp = ResultsExpect()
    term = spec.terminator
    names = list(spec.order) + (list(SHEET_EXTRA) if spec.extra else [])
    whole = spec.whole
    if whole == "no task_id":
        names.remove("task_id")
    elif whole == "no outcome":
        names.remove("outcome")
    need = []
    for row in spec.rows:
        if row.what != "hostile":
            need.append((VALID_RESULT[row.what][0], "assigned"))
        elif row.kind in ("task id", "unknown task"):
            need.append(None)
        elif row.kind == "closed task":
            need.append(("phone_visit", "done"))
        elif row.kind == "survey without answers":
            need.append(("survey", "assigned"))
        else:
            need.append(("phone_visit", "assigned"))
    made = iter(world.tasks([n for n in need if n is not None]))
    ids = [next(made) if n is not None else None for n in need]

    pieces = [] if whole in ("empty", "bom only") else \
        [("7,no_answer,,," if whole == "no header" else ",".join(names)) + term]
    line = 2
    for row, tid in zip(spec.rows, ids):
        if whole in ("empty", "bom only"):
            break
        if row.blank_before:
            pieces.append(term)
            line += 1
        values = {"task_id": str(tid), "outcome": row.outcome, "note": row.note,
                  "answers": row.answers, "date": row.date, **SHEET_EXTRA}
        extra_cells: list[str] = []
        p = row.param
        if row.what == "hostile":
            if row.kind in ("task id", "unknown task"):
                values["task_id"] = p
            elif row.kind in ("outcome", "unfitting"):
                values["outcome"] = p
            elif row.kind == "note":
                values["note"] = p
            elif row.kind == "date":
                values["date"] = p
            elif row.kind == "answers":
                values["answers"] = p
            elif row.kind == "survey without answers":
                values["outcome"], values["answers"] = "reached", ""
            elif row.kind == "extra fields":
                extra_cells = [p]
        row_cells = [values.get(n, "") for n in names] + extra_cells
        if row.what == "hostile" and row.kind == "short":
            row_cells = [values[names[0]] if values[names[0]].strip() else "x"]
        record = cells(row_cells, term)
        pieces.append(record)
        exp.rows += 1
        if row.what == "hostile":
            exp.hostile[line] = tid
        else:
            exp.valid.append({
                "line": line, "task_id": tid, "outcome": row.outcome.strip().lower(),
                "note": row.note.strip() or None,
                "day": dt.date.fromisoformat(row.date.strip()) if row.date.strip() else TODAY})
        line += newlines(record)
    text_ = "".join(pieces)
    if whole in ("unclosed", "quote", "huge"):
        text_ += {"unclosed": '7,no_answer,"rang', "quote": '7,no_answer,"rang"twice',
                  "huge": "7,no_answer," + "x" * 70_000}[whole] + term
    if whole == "nul":
        at = int(spec.at * len(text_))
        text_ = text_[:at] + "\x00" + text_[at:]
    data = text_.encode()
    if whole == "latin-1":
        data = (text_ + "2,no_answer,café au lait,," + term).encode("latin-1", "replace")
    elif whole == "utf-16":
        data = text_.encode("utf-16")
    elif whole == "bytes":
        at = int(spec.at * len(data))
        data = data[:at] + b"\xff\xfe" + data[at:]
    elif whole == "bom only":
        data = b"\xef\xbb\xbf"
    exp.whole = whole is not None
    return data, exp


def check_results_applied(world: ResultsWorld, exp: ResultsExpect, problems: list[str]) -> None:
    """Good rows applied exactly once as given, bad rows listed by line, nothing else."""
    lines = [int(m.group(1)) for p in problems for m in [PROBLEM.match(p)] if m]
    assert len(lines) == len(problems), problems
    assert sorted(lines) == sorted(exp.hostile), \
        f"problem lines {lines}, hostile rows on lines {sorted(exp.hostile)}: {problems}"
    leaked = [p for p in problems if any(m in p for m in MARKS)]
    assert not leaked, f"contact details in problems: {leaked}"
    touched = [v["task_id"] for v in exp.valid] + [t for t in exp.hostile.values() if t]
    with session_scope(world.eng, write=False) as s:
        attempts = {}
        for a in s.scalars(select(Attempt).where(Attempt.task_id.in_(touched))):
            attempts.setdefault(a.task_id, []).append(a)
        tasks = {t.id: t for t in s.scalars(select(OutreachTask)
                                            .where(OutreachTask.id.in_(touched)))}
    for v in exp.valid:
        got = attempts.get(v["task_id"], [])
        assert len(got) == 1, f"line {v['line']}: {len(got)} attempts recorded"
        a, t = got[0], tasks[v["task_id"]]
        assert (str(a.outcome), a.note, a.recorded_on) == (v["outcome"], v["note"], v["day"]), \
            f"line {v['line']}: stored {(str(a.outcome), a.note, a.recorded_on)}, given {v}"
        if v["outcome"] in DONE_OUTCOMES:
            assert t.status == TS.DONE
        else:
            assert (t.status, t.attempts) == (TS.ASSIGNED, 1)
    for line, tid in exp.hostile.items():
        if tid is not None:
            assert tid not in attempts, f"line {line} was refused, yet task {tid} got an attempt"


@pytest.fixture
def results_world(db_url, tmp_path):
    coord, vol = bootstrap()
    eng = make_engine(db_url)
    world = ResultsWorld(eng, coord, vol)
    world.dir = tmp_path
    yield world
    eng.dispose()


@pytest.mark.slow  # hundreds of generated files: CI runs it, the edit loop does not
def test_results_import_fuzz(results_world):
    """Results files mixing good rows with hostile ones, applied by `tasks.work.results` exactly
    as the flow's tasks apply them: good rows once, bad rows named by line with nothing
    written for them, whole files refused when they are no CSV, and a second application
    applies nothing."""
    w = results_world
    start = COUNTS["result files"]

    @fuzz(RESULT_FILES)
    @given(spec=results_files())
    def one(spec):
        COUNTS["result files"] += 1
        data, exp = render_results(spec, w)
        try:
            rows = read_results(data)
        except BadInput as exc:
            assert exp.whole, f"a readable file was refused whole: {exc}"
            assert not any(m in str(exc) for m in MARKS) and "\n" not in str(exc)
            return
        assert not exp.whole, f"a file that is no CSV of results was read: {rows[:3]}"
        assert len(rows) == exp.rows
        before = history_size(w.eng)
        try:
            with session_scope(w.eng) as s:
                rep = apply_results(s, rows, actor=w.actor, today=TODAY)
        except Exception as exc:  # noqa: BLE001 - a crash is the finding
            assert history_size(w.eng) == before, "a crash left rows behind"
            pytest.fail(f"apply_results raised {exc.__class__.__name__}: {exc}", pytrace=False)
        assert (rep.applied, rep.duplicates) == (len(exp.valid), 0), rep
        check_results_applied(w, exp, rep.problems)
        with session_scope(w.eng) as s:
            again = apply_results(s, read_results(data), actor=w.actor, today=TODAY)
        assert (again.applied, again.duplicates) == (0, len(exp.valid))
        assert sorted(p.split(":")[0] for p in again.problems) == \
            sorted(p.split(":")[0] for p in rep.problems)

    one()
    assert COUNTS["result files"] - start >= RESULT_FILES


@pytest.mark.parametrize("whole", RESULT_WHOLE)
def test_results_files_wrong_as_a_whole_are_refused_by_the_cli(results_world, whole):
    """Each way a results file can be no CSV of results (Latin-1, UTF-16, a NUL, bytes
    that are no UTF-8, no task_id or outcome column, empty, a BOM alone, no header row, a
    quote never closed, text after a closing quote, a field over csv's limit) around random
    rows: the CLI refuses it before it starts Prefect, in one line, exit 2, nothing
    written."""
    w = results_world
    start = COUNTS["refused result files cli"]

    @fuzz(WHOLE_FILE_CASES)
    @given(spec=results_files(whole=whole))
    def one(spec):
        COUNTS["refused result files cli"] += 1
        data, _ = render_results(spec, w)
        path = w.dir / "results.csv"
        path.write_bytes(data)
        before = snapshot(w.eng)
        r = cli("outcomes", "import", str(path), code=w.coord_code)
        assert len(refusal(r, codes=(2,))) == 1
        no_contact_details(r)
        assert not changed(before, snapshot(w.eng))

    one()
    assert COUNTS["refused result files cli"] - start >= WHOLE_FILE_CASES


@pytest.mark.slow
@pytest.mark.prefect
def test_results_import_fuzz_through_the_cli(results_world, prefect_harness):
    """The same files through ``outreach outcomes import`` and its Prefect flow: exit 0
    when every row was applied, 2 with the problems listed by line otherwise."""
    w = results_world
    start = COUNTS["result files cli"]

    @fuzz(RESULT_FILES_CLI)
    @given(spec=results_files())
    def one(spec):
        COUNTS["result files cli"] += 1
        data, exp = render_results(spec, w)
        path = w.dir / "results.csv"
        path.write_bytes(data)
        before = snapshot(w.eng)
        r = cli("outcomes", "import", str(path), "--today", str(TODAY), code=w.coord_code)
        no_contact_details(r)
        if exp.whole:
            assert len(refusal(r, codes=(2,))) == 1
            assert not changed(before, snapshot(w.eng))
            return
        m = re.match(r"results\.csv: (\d+) rows, (\d+) applied, (\d+) already applied "
                     r"before, (\d+) refused", r.stdout)
        assert m, r.output[-1500:]
        assert tuple(map(int, m.groups())) == (exp.rows, len(exp.valid), 0, len(exp.hostile))
        assert r.exit_code == (2 if exp.hostile else 0)
        problems = r.stderr.rstrip("\n").split("\n") if r.stderr.strip() else []
        check_results_applied(w, exp, problems)

    one()
    assert COUNTS["result files cli"] - start >= RESULT_FILES_CLI


def test_results_rows_wider_than_the_header_are_refused(results_world):
    """Found by the fuzz (fixed): a row with more fields than the header is applied and
    its extra fields dropped without a word — an unquoted comma in a note loses the rest
    of the note. The ledger import refuses such rows; the results import must too."""
    w = results_world
    tid, = w.tasks([("phone_visit", "assigned")])
    rows = read_results(f"task_id,outcome,note\n{tid},no_answer,rang twice, no answer\n"
                        .encode())
    with session_scope(w.eng) as s:
        rep = apply_results(s, rows, actor=w.actor, today=TODAY)
    assert rep.applied == 0 and [p[:7] for p in rep.problems] == ["line 2:"], \
        f"applied {rep.applied}, problems {rep.problems}: the note lost ' no answer'"


# --- absurd dates, wherever a date enters --------------------------------------------------

BAD_DAYS = ["2026-02-30", "2026-13-01", "0000-01-01", "0001-01-01", "9999-12-31", "-1", "1e9",
            "", "2026-11-31", "2026-11-02x", "'); DROP TABLE attempts;--"]
BAD_PERIODS = ["2026-13", "0000-00", "0000-01", "2026-00", "9999-12", "-1", "1e9", "26-11",
               "2026-1", "2026-11-01", ""]


@pytest.fixture
def world(db_url, tmp_path, monkeypatch):
    """A seeded ledger with survey and phone-visit tasks; codes by role; cwd a temp dir."""
    from outreach.seed.generate import seed_ledger
    from outreach.tasks.campaigns import plan_jobs

    monkeypatch.chdir(tmp_path)
    eng = make_engine(db_url)
    res = seed_ledger(eng, members=80, volunteers=8, seed=5, today=TODAY)
    plan_jobs.plan_campaign(eng, "survey", "2026-11", today=TODAY)
    plan_jobs.plan_campaign(eng, "phone_visit", "2026-11", today=TODAY)
    codes = {vid: code for vid, _, _, _, code in res.codes}
    coords = [vid for vid, _, role, _, _ in res.codes if role == "coordinator"]
    with session_scope(eng, write=False) as s:
        assigned = s.execute(select(OutreachTask.id, OutreachTask.volunteer_id, OutreachTask.kind)
                             .where(OutreachTask.status == "assigned")
                             .order_by(OutreachTask.id)).all()
    vid = next(v for _, v, _ in assigned if v not in coords)
    mine = [(t, k) for t, v, k in assigned if v == vid]
    others = [t for t, v, _ in assigned if v != vid]
    yield SimpleNamespace(eng=eng, coord=codes[coords[0]], vol=codes[vid], vid=vid,
                          mine=mine, all=[t for t, _, _ in assigned], others=others,
                          dir=tmp_path)
    eng.dispose()


def test_absurd_dates_are_refused_everywhere(world):
    """``--today``, ``--period`` and the date columns of both CSV files: an impossible or
    absurd date is one clear line and exit 2, with nothing written. Every failing case is
    listed at once (before the fix: overflow crashes at 9999-12-31, year 0 crashes in
    ``report coverage --period 0000-01``, year 1 and 9999 accepted and written, and
    ``--period`` ignored by three of the four reports)."""
    w = world
    tasks = iter(w.others)
    cases = []
    for day in BAD_DAYS:
        cases += [(("tasks", "--today", day), w.vol),
                  (("task", "record", str(next(tasks)), "no_answer", "--today", day), w.coord)]
        cases += [(("report", which, "--today", day), w.coord)
                  for which in ("coverage", "volunteers", "unreachable", "movements")]
    for period in BAD_PERIODS:
        cases += [(("report", which, "--period", period), w.coord)
                  for which in ("coverage", "volunteers", "unreachable", "movements")]
    failures = []
    for args, code in cases:
        before = snapshot(w.eng)
        try:
            r = outreach(*args, code=code)
        except Exception as exc:  # noqa: BLE001 - collected, reported together
            failures.append(f"{args}: raised {exc.__class__.__name__}: {str(exc)[:80]}")
            continue
        after = snapshot(w.eng)
        lines = r.stderr.rstrip("\n").split("\n")
        if r.exit_code != 2 or len(lines) != 1 or not lines[0].startswith("outreach: "):
            failures.append(f"{args}: exit {r.exit_code}, {r.output.strip()[:100]!r}")
        elif changed(before, after):
            failures.append(f"{args}: refused but wrote {changed(before, after)}")
    # and tomorrow, as of this test's run (not the suite's start: it may cross midnight)
    for day in ABSURD_BIRTH + [str(dt.date.today() + dt.timedelta(days=1))]:
        path = w.dir / "birth.csv"
        path.write_text(",".join(LEDGER_COLUMNS) + "\n" + cells(
            ["D1", "Dora", day, "", "North", "", "", "", "", "", ""], "\n"))
        r = cli("members", "import", str(path), code=w.coord)
        if r.exit_code != 2 or "line 2: birth_date" not in r.stderr:
            failures.append(f"members import birth_date {day!r}: exit {r.exit_code}")
    from outreach.tasks.work.results import apply_results as apply

    world_ = ResultsWorld(w.eng, w.coord, w.vol)
    for day in ABSURD_DATES:
        tid, = world_.tasks([("phone_visit", "assigned")])
        before = snapshot(w.eng)
        try:
            with session_scope(w.eng) as s:
                rep = apply(s, read_results(f"task_id,outcome,date\n{tid},no_answer,{day}\n"
                                            .encode()), actor=world_.actor, today=TODAY)
        except Exception as exc:  # noqa: BLE001
            failures.append(f"results date {day!r}: raised {exc.__class__.__name__}")
            continue
        if rep.applied or not rep.problems or changed(before, snapshot(w.eng)):
            failures.append(f"results date {day!r}: applied {rep.applied}, {rep.problems}")
    assert not failures, f"{len(failures)} absurd dates not refused cleanly:\n" + \
        "\n".join(failures)


@pytest.mark.slow
@pytest.mark.prefect
def test_absurd_dates_for_the_flows_are_refused_before_prefect(world, prefect_harness):
    """Campaigns, follow-up and the results import take ``--today``/``--period`` too; an
    absurd one must be refused before a flow runs (before the fix: ``--period 0000-01`` and
    ``--today 9999-12-31`` crash inside the flow, and ``follow-up --today 9999-12-31``
    expires every open task)."""
    w = world
    sheet = w.dir / "results.csv"
    sheet.write_text(f"task_id,outcome\n{w.mine[0][0]},no_answer\n")
    cases = [("campaign", "run", "survey", "--period", p, "--today", str(TODAY))
             for p in ("2026-13", "0000-01", "9999-12")]
    cases += [("campaign", "run", "survey", "--period", "2026-11", "--today", d)
              for d in ("2026-02-30", "0001-01-01", "9999-12-31")]
    cases += [("follow-up", "--today", d) for d in ("2026-02-30", "0001-01-01", "9999-12-31")]
    cases += [("outcomes", "import", str(sheet), "--today", d)
              for d in ("2026-02-30", "0001-01-01", "9999-12-31")]
    failures = []
    for args in cases:
        before = snapshot(w.eng)
        try:
            r = outreach(*args, code=w.coord)
        except Exception as exc:  # noqa: BLE001
            failures.append(f"{args}: raised {exc.__class__.__name__}: {str(exc)[:80]}")
            continue
        lines = r.stderr.rstrip("\n").split("\n")
        if r.exit_code != 2 or len(lines) != 1 or not lines[0].startswith("outreach: "):
            failures.append(f"{args}: exit {r.exit_code}, {r.output.strip()[:120]!r}")
        if changed(before, snapshot(w.eng)):
            failures.append(f"{args}: wrote {changed(before, snapshot(w.eng))}")
    assert not failures, f"{len(failures)} absurd dates reached a flow:\n" + "\n".join(failures)


# --- names and notes typed on the command line ---------------------------------------------

def test_sql_and_formulas_in_names_and_notes_are_kept_exactly(world):
    """SQL-ish and formula text is data: stored and shown exactly as typed."""
    w = world
    sqlish = "Robert'); DROP TABLE volunteers;--"
    r = cli("volunteer", "add", sqlish, "--branch", "=SUM(1+1)", code=w.coord)
    assert r.exit_code == 0, r.output
    with session_scope(w.eng, write=False) as s:
        assert s.scalar(select(func.count()).select_from(Volunteer)
                        .where(Volunteer.name == sqlish)) == 1
        assert s.scalar(select(func.count()).select_from(Branch)
                        .where(Branch.name == "=SUM(1+1)")) == 1
    assert sqlish in cli("volunteer", "list", code=w.coord).stdout
    phone = next(t for t, k in w.mine if k == "phone_visit")
    note = "1' OR '1'='1; =cmd|' /C calc'!A0"
    r = cli("task", "record", str(phone), "no_answer", "--note", note, code=w.vol)
    assert r.exit_code == 0, r.output
    with session_scope(w.eng, write=False) as s:
        assert s.scalar(select(Attempt.note).where(Attempt.task_id == phone)) == note


def test_control_characters_and_overlong_names_are_refused(world):
    """Found by the fuzz: the ledger import refused control characters and over-long
    names, but names typed on the command line were not checked. An escape
    sequence in a volunteer's name is printed raw to every coordinator's terminal by
    ``volunteer list``; a name longer than its column is stored on SQLite (and then does
    not survive an export and import) and crashes with DataError on PostgreSQL. Same for
    ``task skip --reason`` and a survey's family_contact_name answer. Each must be one
    clear line, exit 2, nothing written."""
    w = world
    phone = [t for t, k in w.mine if k == "phone_visit"]
    survey = next(t for t, k in w.mine if k == "survey")
    answers = ["--answer", "phone=same", "--answer", "address=same", "--answer",
               "residence=same", "--answer", "homebound=no"]
    cases = [
        (("volunteer", "add", "Eve\x1b[31mRed", "--branch", "North"), w.coord),
        (("volunteer", "add", "Eve\x07", "--branch", "North"), w.coord),
        (("volunteer", "add", "Eve\x9b31mRed", "--branch", "North"), w.coord),  # C1 CSI
        (("volunteer", "add", "Eve", "--branch", "No\x1b[2Jrth"), w.coord),
        (("volunteer", "add", "x" * (MAX_LEN["name"] + 1), "--branch", "North"), w.coord),
        (("volunteer", "add", "Eve", "--branch", "b" * (MAX_LEN["branch"] + 1)), w.coord),
        (("task", "skip", str(phone[0]), "--reason", "in hospital\x1b[2J"), w.coord),
        (("task", "record", str(survey), "reached", *answers, "--answer",
          "family_contact_name=" + "k" * (MAX_LEN["family_contact_name"] + 1)), w.coord),
    ]
    failures = []
    for args, code in cases:
        before = snapshot(w.eng)
        try:
            r = outreach(*args, code=code)
        except Exception as exc:  # noqa: BLE001
            failures.append(f"{args[:2]} {args[2][:30]!r}…: raised {exc.__class__.__name__}")
            continue
        lines = r.stderr.rstrip("\n").split("\n")
        if r.exit_code != 2 or len(lines) != 1 or not lines[0].startswith("outreach: "):
            failures.append(f"{args[:2]} {args[2][:30]!r}…: exit {r.exit_code}, "
                            f"{r.output.strip()[:80]!r}")
        elif changed(before, snapshot(w.eng)):
            failures.append(f"{args[:2]}: refused but wrote something")
    assert not failures, "\n".join(failures)


# --- the CLI's argv --------------------------------------------------------------------------

COMMANDS = [["tasks"], ["task", "show"], ["task", "record"], ["task", "done"],
            ["task", "release"], ["task", "reassign"], ["task", "skip"], ["member", "show"],
            ["member", "confirm"], ["volunteer", "add"], ["volunteer", "list"],
            ["members", "import"], ["members", "export"], ["report", "coverage"],
            ["report", "volunteers"], ["report", "unreachable"], ["report", "movements"],
            ["db", "status"], ["db", "check"], ["whoami"], ["login"]]
HOSTILE_TOKENS = [
    "1", "0", "-1", "99999999999999999999", "²", "1e9", "reached", "no_answer", "moved",
    "deceased", "delivered", "--answer", f"phone={PHONE_MARK}", f"address={ADDRESS_MARK}",
    "residence=away", "homebound=no", "phone=same", "--note", "--today", "--period",
    "--format", "csv", "json", "--all", "--branch", "--kind", "--status", "--limit",
    "--volunteer", "--reason", "--capacity", "--coordinator", "--code", "North", "2026-11-02",
    "2026-11", *ABSURD_DATES[:7], "2026-13", "0000-01", "'); DROP TABLE members;--",
    "=cmd|' /C calc'!A0", "Eve\x1b[31m", "a" * 300, "-", "out.csv", "hostile.csv",
    "\udcff", "M0000001",
]
CODES = ["coord", "vol", None, "²-AAAA-BBBB-CCCC-DDDD", "99999999999999999999-AAAA-BBBB-CCCC-DDDD",
         "1-AAAA-BBBB-CCCC-DDDD", "not a code", "1-ABCD"]


def test_argv_fuzz(world):
    """Whatever is typed, by whoever: exit 0, or a refusal (one ``outreach: …`` line, or a
    usage error from the parser) that wrote nothing. Never an exception."""
    w = world
    (w.dir / "hostile.csv").write_text(",".join(LEDGER_COLUMNS) + "\nH1,=cmd|' /C calc'!A0,"
                                       f"0000-01-01,{PHONE_MARK},North,,,,,,\n")
    ids = [str(t) for t in w.all[:3]] + [str(t) for t, _ in w.mine[:3]]
    tokens = st.one_of(st.sampled_from(HOSTILE_TOKENS + ids),
                       st.text(st.characters(blacklist_categories=("Cs",),
                                             blacklist_characters="\x00"), max_size=12))
    start = COUNTS["argv"]

    @fuzz(ARGV)
    @given(command=st.sampled_from(COMMANDS), rest=st.lists(tokens, max_size=6),
           who=st.sampled_from(CODES))
    def one(command, rest, who):
        COUNTS["argv"] += 1
        code = {"coord": w.coord, "vol": w.vol}.get(who, who)
        before = snapshot(w.eng)
        r = cli(*command, *rest, code=code, input="")
        assert r.exit_code in (0, 1, 2), r.output[-500:]
        assert "Traceback" not in r.output
        if r.exit_code != 0:
            refusal(r, usage=True)
            assert not changed(before, snapshot(w.eng)), f"refused, yet wrote: {r.stderr[:300]}"

    one()
    assert COUNTS["argv"] - start >= ARGV


@pytest.mark.parametrize("argv, who", [
    (["tasks", "--limit", "99999999999999999999"], "vol"),
    (["tasks", "--all", "--limit", "99999999999999999999"], "coord"),
    (["tasks"], "²-AAAA-BBBB-CCCC-DDDD"),
    (["tasks"], "99999999999999999999-AAAA-BBBB-CCCC-DDDD"),
    (["login", "--code", "99999999999999999999-AAAA-BBBB-CCCC-DDDD"], None),
    (["member", "show", "\udcff"], "coord"),
    (["tasks", "--all", "--branch", "\udcff"], "coord"),
    (["volunteer", "add", "Jos\udce9", "--branch", "North"], "coord"),
    (["members", "import", "a" * 300 + ".csv"], "coord"),
    (["outcomes", "import", "a" * 300 + ".csv"], "coord"),
    (["members", "export", ""], "coord"),
    (["members", "export", "no/such/folder/ledger.csv"], "coord"),
    (["members", "export", "\udcff"], "coord"),
], ids=["limit-vol", "limit-coord", "code-superscript-id", "code-huge-id", "login-huge-id",
        "member-show-undecodable-argv", "branch-undecodable-argv", "name-undecodable-argv",
        "import-name-too-long", "outcomes-name-too-long", "export-to-empty-path",
        "export-to-missing-folder", "export-to-undecodable-path"])
def test_hostile_arguments(world, argv, who):
    """Found by the fuzz (fixed): values a person can type that crash the command
    instead of being refused — a huge ``--limit`` or access-code id (OverflowError on
    SQLite, DataError on PostgreSQL), a code whose id is a superscript digit (``isdigit``
    but not ``int``), bytes that are not UTF-8 in argv (a Latin-1 terminal typing "José"),
    which reach the database as lone surrogates, a file name longer than the system allows
    (``Path.is_file`` raises), and an export path that cannot be written."""
    w = world
    code = {"coord": w.coord, "vol": w.vol}.get(who, who)
    before = snapshot(w.eng)
    r = cli(*argv, code=code)
    if refusal(r, usage=True)[0].startswith("outreach: "):
        assert len(r.stderr.rstrip("\n").split("\n")) == 1
    assert not changed(before, snapshot(w.eng))


# --- every CSV we write is safe in a spreadsheet ---------------------------------------------

def test_every_csv_export_neutralises_formulas(db_url, tmp_path):
    """Found by the fuzz (fixed): members can be called ``=cmd|' /C calc'!A0`` (the import
    keeps names as given), and the run sheet (``outreach tasks --format csv``, meant to be
    printed from a spreadsheet) and ``report … --format csv`` write such cells raw. The
    ledger export escapes formulas but leaves arithmetic such as ``-1+1`` raw in any column
    when it looks like a phone number; only the phone columns may keep a leading + or -.
    Every CSV output must start no cell with = + - @ tab or CR, phone columns excepted."""
    from outreach.tasks.campaigns import plan_jobs

    coord, _ = bootstrap(branch="@SUM(1+1)")
    r = cli("volunteer", "add", "=HYPERLINK(\"http://x\",\"y\")", "--branch", "@SUM(1+1)",
            "--capacity", "50", code=coord)
    assert r.exit_code == 0 and first_code(r.stdout), r.output
    ledger_file = tmp_path / "in.csv"
    ledger_file.write_text(
        ",".join(LEDGER_COLUMNS) + "\n"
        "F1,=cmd|' /C calc'!A0,1940-01-01,+1 555 000,@SUM(1+1),local,+1+1,,no,"
        "-2+3+cmd|' /C calc'!A0,555 0100\n"
        "F2,-1+1,1941-01-01,,@SUM(1+1),local,@x,,yes,=1+1,\n")
    assert cli("members", "import", str(ledger_file), code=coord).exit_code == 0
    moved = tmp_path / "moved.csv"
    moved.write_text(ledger_file.read_text().replace(",local,", ",away,"))
    assert cli("members", "import", str(moved), code=coord).exit_code == 0
    eng = make_engine(db_url)
    plan_jobs.plan_campaign(eng, "survey", "2026-11", today=TODAY)
    with session_scope(eng, write=False) as s:
        tid = s.scalar(select(OutreachTask.id).join(Member, Member.id == OutreachTask.member_id)
                       .where(Member.ledger_no == "F1"))
    eng.dispose()
    for day in ("2026-11-02", "2026-11-03", "2026-11-04"):
        r = cli("task", "record", str(tid), "no_answer", "--today", day, code=coord)
        assert r.exit_code == 0, r.output
    outputs = {
        "members export": cli("members", "export", "-", code=coord).stdout,
        "tasks --all --format csv": cli("tasks", "--all", "--format", "csv", code=coord).stdout,
        "tasks --all --status failed --format csv": cli(
            "tasks", "--all", "--status", "failed", "--format", "csv", code=coord).stdout,
    }
    for which in ("coverage", "volunteers", "unreachable", "movements"):
        outputs[f"report {which} --format csv"] = cli("report", which, "--format", "csv",
                                                      code=coord).stdout
    bad = []
    for name, out in outputs.items():
        rows = list(csv.reader(io.StringIO(out, newline="")))
        assert len(rows) > 1, f"{name} wrote no rows: {out[:200]!r}"
        for row in rows[1:]:
            for col, cell in zip(rows[0], row):
                phone_col = "phone" in col
                if cell[:1] in FORMULA and cell != "-" and \
                        not (phone_col and PHONE_SHAPED.match(cell)):
                    bad.append(f"{name}: {col} = {cell[:40]!r}")
    assert not bad, f"{len(bad)} formula cells left raw:\n" + "\n".join(bad)


# --- a database at another migration -------------------------------------------------------

def _older_revisions() -> list[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrate.__file__).parent / "migrations"))
    return [s.revision for s in ScriptDirectory.from_config(cfg).walk_revisions()
            if s.revision != migrate.HEAD]


DIALECTS = ["sqlite"] + (["postgresql"] if PG_URL else [])
# "older revision" joins once a second migration exists; until then the only older state
# is the schema before 0001, which is "never upgraded".
STATES = ["never upgraded", "newer revision", "no alembic_version"] + (
    ["older revision"] if _older_revisions() else [])


@pytest.fixture(params=[(d, s) for d in DIALECTS for s in STATES],
                ids=lambda p: f"{p[0]}-{p[1].replace(' ', '-')}")
def odd_db(request, tmp_path, monkeypatch):
    """A database in an odd state: a fresh SQLite file or PostgreSQL schema, then
    never upgraded / at a revision this outreach does not know / with outreach's tables
    but no alembic_version / at an older revision (when one exists)."""
    dialect, state = request.param
    older = _older_revisions()
    admin = schema = None
    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path / 'odd.db'}"
    else:
        base = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
        schema = f"hostile_{uuid.uuid4().hex[:8]}"
        admin = make_engine(base)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    eng = make_engine(url)
    if state == "never upgraded":
        with eng.begin() as conn:
            conn.execute(text("SELECT 1"))
    elif state == "newer revision":
        migrate.upgrade(eng)
        with eng.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    elif state == "no alembic_version":
        migrate.upgrade(eng)
        with eng.begin() as conn:
            conn.execute(text("DROP TABLE alembic_version"))
    else:
        migrate.upgrade(eng, older[0])
    monkeypatch.setenv("OUTREACH_DATABASE_URL", url)
    monkeypatch.setenv("OUTREACH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OUTREACH_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    db_session._engines.clear()
    yield SimpleNamespace(eng=eng, state=state, dir=tmp_path)
    for e in db_session._engines.values():
        e.dispose()
    db_session._engines.clear()
    eng.dispose()
    if admin is not None:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def dump(eng) -> dict[str, list]:
    """Every table and every row: the whole database, to compare before and after."""
    out = {}
    with eng.connect() as conn:
        for t in sorted(inspect(conn).get_table_names()):
            out[t] = sorted(repr(tuple(r)) for r in conn.execute(text(f'SELECT * FROM "{t}"')))
    return out


MIGRATION_COMMANDS = [
    ("tasks",), ("task", "show", "1"), ("task", "record", "1", "no_answer"), ("task", "done", "1"),
    ("task", "release", "1"), ("task", "reassign", "1", "2"), ("task", "skip", "1", "--reason", "x"),
    ("login",), ("whoami",), ("volunteer", "add", "Ann", "--branch", "North", "--coordinator"),
    ("volunteer", "list"), ("volunteer", "deactivate", "2"), ("volunteer", "new-code", "2"),
    ("members", "import", "in.csv"),
    ("members", "export", "out.csv"), ("member", "show", "M1"),
    ("member", "confirm", "1", "deceased"), ("report", "coverage"), ("report", "volunteers"),
    ("report", "unreachable"), ("report", "movements"), ("db", "check"),
    ("seed", "--members", "3"), ("campaign", "run", "survey", "--period", "2026-11"),
    ("follow-up",), ("outcomes", "import", "results.csv"),
]


def test_a_database_at_another_migration_is_refused_by_every_command(odd_db):
    """Every command refuses a database that is not at this outreach's revision in one
    line that says what to do — run ``outreach db upgrade``, or that the database is newer
    than this outreach — exits 1 and writes nothing. The hint must work: where it says to
    upgrade, ``outreach db upgrade`` succeeds; where it cannot (a newer database, tables
    without a revision) ``db upgrade`` refuses in one line too and writes nothing.

    Found (fixed): a newer database is told to run ``outreach db upgrade``, which then
    crashes (alembic CommandError), and ``db status`` says the same; a database with the
    tables but no alembic_version is told to upgrade, which crashes ("table branches
    already exists")."""
    (odd_db.dir / "in.csv").write_text(",".join(LEDGER_COLUMNS) + "\nA1,Ann,,,North,,,,,,\n")
    (odd_db.dir / "results.csv").write_text("task_id,outcome\n1,no_answer\n")
    before = dump(odd_db.eng)
    failures = []
    hints = set()
    code = "1-AAAA-BBBB-CCCC-DDDD"

    def run(*args):
        try:
            return outreach(*args, code=code, input=code + "\n")
        except Exception as exc:  # noqa: BLE001 - collected, reported together
            failures.append(f"{args}: raised {exc.__class__.__name__}: {str(exc)[:100]}")
            return None

    for args in MIGRATION_COMMANDS:
        r = run(*args)
        if r is None:
            continue
        lines = r.stderr.rstrip("\n").split("\n")
        ok = (r.exit_code == 1 and len(lines) == 1 and lines[0].startswith("outreach: ")
              and ("outreach db upgrade" in lines[0] or "newer" in lines[0]))
        if not ok:
            failures.append(f"{args}: exit {r.exit_code}, {r.output.strip()[:150]!r}")
        else:
            hints.add(lines[0])
        if dump(odd_db.eng) != before:
            failures.append(f"{args}: wrote to the database")
    if (odd_db.dir / "out.csv").exists():
        failures.append("members export wrote a file")
    says_upgrade = any("run `outreach db upgrade`" in h for h in hints)
    r = run("db", "status")  # exit 0, and no advice to upgrade where that cannot work
    if r is not None and (r.exit_code != 0 or (says_upgrade and "db upgrade" not in r.stdout)
                          or (not says_upgrade and re.search(r"(run|needs) `outreach db "
                                                             r"upgrade`", r.stdout))):
        failures.append(f"db status: exit {r.exit_code}, {r.output.strip()[:150]!r}")
    r = run("db", "upgrade")
    if r is None:
        failures.append("the hint says `outreach db upgrade`, which then crashes"
                        if says_upgrade else "db upgrade crashes")
    elif says_upgrade:
        if r.exit_code != 0:
            failures.append(f"the hint says `outreach db upgrade`, which then fails: "
                            f"{r.output.strip()[:200]!r}")
        elif "wrong access code" not in run("tasks").stderr or \
                "up to date" not in run("db", "status").stdout:
            failures.append("after `outreach db upgrade` the database is still not usable")
    else:
        lines = r.stderr.rstrip("\n").split("\n")
        if r.exit_code == 0 or len(lines) != 1 or not lines[0].startswith("outreach: "):
            failures.append(f"db upgrade of a database it cannot upgrade: exit {r.exit_code}, "
                            f"{r.output.strip()[:150]!r}")
    if not says_upgrade and dump(odd_db.eng) != before:
        failures.append("db upgrade wrote to a database it could not upgrade")
    assert not failures, f"{odd_db.state}:\n" + "\n".join(failures)


def test_a_file_that_is_no_database_is_refused(tmp_path, monkeypatch):
    """Found by the fuzz (fixed): OUTREACH_DATABASE_URL pointing at a file that is not a
    SQLite database (a CSV, a backup in another format) crashes every command with
    DatabaseError instead of saying so in one line."""
    path = tmp_path / "ledger.db"
    path.write_bytes(b"ledger_no,name\n" * 200)
    monkeypatch.setenv("OUTREACH_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("OUTREACH_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    db_session._engines.clear()
    before = path.read_bytes()
    failures = []
    try:
        for args in [("tasks",), ("db", "status"), ("db", "upgrade"), ("report", "coverage"),
                     ("volunteer", "add", "Ann", "--branch", "North", "--coordinator")]:
            try:
                r = outreach(*args, code="1-AAAA-BBBB-CCCC-DDDD")
            except Exception as exc:  # noqa: BLE001
                failures.append(f"{args}: raised {exc.__class__.__name__}")
                continue
            lines = r.stderr.rstrip("\n").split("\n")
            if r.exit_code not in (1, 2) or len(lines) != 1 or \
                    not lines[0].startswith("outreach: "):
                failures.append(f"{args}: exit {r.exit_code}, {r.output.strip()[:120]!r}")
    finally:
        for e in db_session._engines.values():
            e.dispose()
        db_session._engines.clear()
    assert path.read_bytes() == before
    assert not failures, "\n".join(failures)
