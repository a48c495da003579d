"""Ledger import and export: CSV and Excel (.xlsx), English or Chinese headers.

Import is all-or-nothing: every row is checked first and every problem is reported with
its line (CSV) or row (Excel) number; only a file without problems is written, in one
transaction. A ledger number that exists updates that member, and every changed field
becomes a row of `member_changes` (who, when, old, new). Messages name lines and columns,
never the contact details themselves.

A file may name its columns in English (`COLUMNS`) or as the 台账 keeps them
(`ZH_COLUMNS`), and say 本地/外出 for residence and 是/否 for homebound; dates may also
read 2026/11/30 or 2026年11月30日 (`tasks.kernel.rules.parse_file_day`). An Excel file is read
from its first sheet (a title row or two above the header is passed over); its dates may
be real Excel dates (`tasks.kernel.xlsxfile`).

Export writes the same columns (`lang`: English or Chinese headers and words), so an
exported file imports back unchanged. In CSV, a cell that a spreadsheet would run as a
formula (``=``, ``+``, ``-``, ``@`` …) is written with a leading apostrophe, and import
takes that apostrophe off again; a value that itself starts with an apostrophe gets one
more (`tasks.kernel.csvfile.safe_cell` / `cell_value`). In Excel every text is a text cell, never
a formula, and dates are dates.

A member moved to another branch by an import takes their open work along: assigned tasks
whose volunteer does not cover the new branch (its own branch or one above it) go back to
open, so the next assignment hands them to a volunteer (escalations: a coordinator) of the
new branch, and the old volunteer no longer sees the member's contact details.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable, Iterator

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from outreach.db.codes import MovementSource
from outreach.db.errors import BadInput, shown
from outreach.db.machines import MemberStatus, TaskStatus
from outreach.db.models import Branch, Member, OutreachTask, Residence, Volunteer
from outreach.db.state import (flush, insert_member_changes, member_change, move_task,
                                set_member_fields)
from outreach.i18n import _, ngettext
from outreach.tasks.access.permissions import COORDINATOR, Actor, requires
from outreach.tasks.kernel import rules
from outreach.tasks.ledger import rules as ledger_rules, tree
from outreach.tasks.kernel.rules import PHONE_SHAPE
from outreach.tasks.kernel.csvfile import cell_value, csv_problem, records, safe_cell, text_of
from outreach.tasks.ledger.movements import record_movements, residence_move
from outreach.tasks.ledger.people import get_or_create_branch

COLUMNS = (
    "ledger_no", "name", "birth_date", "phone", "branch", "residence", "home_address",
    "current_address", "homebound", "family_contact_name", "family_contact_phone",
)
#: The same columns, in the same order, as the 台账 names them (issue 14).
ZH_COLUMNS = (
    "台账编号", "姓名", "出生日期", "联系电话", "所在支部", "居住情况", "家庭住址",
    "现居住地址", "行动不便", "家属联系人", "家属联系电话",
)
#: The headers an export writes, by language.
HEADERS = {"en": COLUMNS, "zh_CN": ZH_COLUMNS}
#: How an export writes residence and homebound, by language (import takes both).
WORDS = {"en": {"local": "local", "away": "away", True: "yes", False: "no"},
         "zh_CN": {"local": "本地", "away": "外出", True: "是", False: "否"}}
#: Every header a file may use → the column it stands for.
_CANONICAL = {**{c: c for c in COLUMNS}, **dict(zip(ZH_COLUMNS, COLUMNS))}
REQUIRED = ("ledger_no", "name", "branch")
MAX_LEN = {"ledger_no": 40, "name": 200, "branch": 120, "phone": 40,
           "family_contact_phone": 40, "family_contact_name": 200,
           "home_address": 500, "current_address": 500}
#: Fields that hold contact details: never echoed in an error message.
PRIVATE = {"phone", "home_address", "current_address", "family_contact_name",
           "family_contact_phone"}
PHONES = ("phone", "family_contact_phone")
MAX_PROBLEMS_SHOWN = 200


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    branches_created: list[str] = field(default_factory=list)
    changes: int = 0
    #: Assigned tasks of moved members sent back to open (their volunteer does not cover
    #: the new branch).
    released: int = 0


class LedgerFileError(BadInput):
    """A ledger file with problems; ``problems`` lists them all, one per line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        text = "\n".join(shown) + ("\n" + _("… and {n} more").format(n=more) if more > 0
                                   else "")
        super().__init__(ngettext(
            "the file was refused, nothing was imported ({n} problem):",
            "the file was refused, nothing was imported ({n} problems):",
            len(problems)).format(n=len(problems)) + "\n" + text)


def check_lang(lang: str) -> str:
    """``lang`` if a ledger file can be written in it (en, zh_CN), else BadInput."""
    if lang not in HEADERS:
        raise BadInput(_("the ledger's language must be en or zh_CN, not {lang}")
                       .format(lang=shown(str(lang))))
    return lang


class _Where:
    """Where a record is, as people see it: a CSV's line or a sheet's row."""

    def __init__(self, excel: bool):
        self.excel = excel

    def __call__(self, n: int, problem: str) -> str:
        at = (_("row {n}") if self.excel else _("line {n}")).format(n=n)
        return _("{where}: {problem}").format(where=at, problem=problem)


def _parse_row(raw: dict, line: int, problems: list[str], labels: dict[str, str],
               where: _Where) -> dict | None:
    """One record's columns (canonical name → cell) checked and typed, or None with its
    problems added; ``labels`` names each column as the file does."""
    if where.excel:
        row = {k: raw[k].strip() if isinstance(raw[k], str) else raw[k] for k in COLUMNS}
    else:
        row = {k: cell_value(raw[k].strip()) for k in COLUMNS}
    start = len(problems)

    def bad(text: str) -> None:
        problems.append(where(line, text))

    for col in REQUIRED:
        if not row[col]:
            bad(_("{column} is required").format(column=labels[col]))
    for col, limit in MAX_LEN.items():
        if len(row[col]) > limit:
            bad(_("{column} is longer than {limit} characters")
                .format(column=labels[col], limit=limit))
        elif (problem := rules.unseen_problem(row[col], labels[col])) is not None:
            bad(problem)
    for col in PHONES:
        if row[col] and len(row[col]) <= MAX_LEN[col] and not PHONE_SHAPE.match(row[col]):
            bad(_("{column} has characters a phone number cannot have")
                .format(column=labels[col]))
    birth = row["birth_date"] or None
    try:
        if isinstance(birth, str):
            birth = rules.parse_file_day(birth, labels["birth_date"])
        elif birth is not None and not rules.FIRST_DAY <= birth <= rules.LAST_DAY:
            raise BadInput(_("{what} {day} is not a possible date (years 1900 to 2100)")
                           .format(what=labels["birth_date"], day=birth))
    except BadInput as exc:
        birth = None
        bad(str(exc))
    if birth is not None and birth > dt.date.today():
        bad(_("{column} {day} is not a possible birth date")
            .format(column=labels["birth_date"], day=birth))
    residence = Residence.LOCAL
    try:
        residence = ledger_rules.parse_residence(row["residence"], labels["residence"])
    except BadInput as exc:
        bad(str(exc))
    homebound = False
    try:
        homebound = rules.parse_yes_no(row["homebound"], labels["homebound"], empty=False)
    except BadInput as exc:
        bad(str(exc))
    if len(problems) > start:
        return None
    return {
        "ledger_no": row["ledger_no"], "name": row["name"], "birth_date": birth,
        "phone": row["phone"] or None, "branch": row["branch"],
        "residence": residence, "home_address": row["home_address"] or None,
        "current_address": row["current_address"] or None, "homebound": homebound,
        "family_contact_name": row["family_contact_name"] or None,
        "family_contact_phone": row["family_contact_phone"] or None,
    }


def _header_problem(header: list[str]) -> str | None:
    """What is wrong with a header row (None: nothing); names the columns in the language
    the file seems to use, and never quotes what is not a column name."""
    mapped = [_CANONICAL.get(h) for h in header]
    known = [m for m in mapped if m is not None]
    missing = [c for c in COLUMNS if c not in known]
    unknown = [h for h, m in zip(header, mapped) if m is None]
    dupes = sorted({h for h, m in zip(header, mapped) if m is not None and known.count(m) > 1})
    if not (missing or unknown or dupes):
        return None
    chinese = any(h in ZH_COLUMNS for h in header) or any(
        "\u4e00" <= ch <= "\u9fff" for h in header for ch in h)
    names = dict(zip(COLUMNS, ZH_COLUMNS if chinese else COLUMNS))
    parts = []
    if missing:
        parts.append(_("missing {names}").format(names=", ".join(names[c] for c in missing)))
    if unknown:
        # shown(): a file without its header row has data (phones, addresses) here
        parts.append(_("unknown {names}").format(
            names=", ".join(sorted({u if u in ZH_COLUMNS else shown(u) for u in unknown}))))
    if dupes:
        parts.append(_("repeated {names}").format(names=", ".join(dupes)))
    return _("the header must be exactly {columns} ({problems})").format(
        columns=",".join(names[c] for c in COLUMNS), problems="; ".join(parts))


def _find_header(lines: Iterator[tuple[int, list]]) -> tuple[int, list] | None:
    """A sheet's header: the first row naming the ledger number column among its first
    `tasks.kernel.xlsxfile.TITLE_ROWS` rows (a title above it is passed over), else its first."""
    from outreach.tasks.kernel.xlsxfile import TITLE_ROWS

    seen = []
    for line, values in lines:
        cells = [v.strip() if isinstance(v, str) else v for v in values]
        if "ledger_no" in cells or ZH_COLUMNS[0] in cells:
            return line, values
        seen.append((line, values))
        if len(seen) >= TITLE_ROWS:
            break
    return next((s for s in seen if any(v not in ("", None) for v in s[1])), None)


def read_ledger(source: str | Path | IO[bytes], *, encoding: str = "utf-8") -> list[dict]:
    """Parse and check a ledger file, CSV or Excel (told apart by what is in it, not by
    its name; a CSV in ``encoding``, see `tasks.kernel.csvfile.ENCODINGS`); raises
    `LedgerFileError` listing every problem."""
    from outreach.tasks.kernel import xlsxfile

    data = source.read() if hasattr(source, "read") else Path(source).read_bytes()
    excel = xlsxfile.is_workbook(data)
    named = "" if hasattr(source, "read") else Path(source).suffix.lower()
    if not excel and named in (".xlsx", ".xlsm", ".xls", ".ods"):
        raise BadInput(_("the file is named {suffix} but is not an Excel workbook; open it "
                         "in Excel and save it as .xlsx (or as CSV UTF-8 named .csv)")
                       .format(suffix=named))
    where = _Where(excel)
    empty = _("the file is empty: expected the header {header}").format(
        header=",".join(COLUMNS))
    problems: list[str] = []
    if excel:
        lines = xlsxfile.sheet_records(data)
        found = _find_header(lines)
        if found is None:
            raise BadInput(empty)
        line1, header = found
        header = [str(h).strip() for h in header]
        while header and not header[-1]:
            header.pop()
    else:
        lines = records(text_of(data, encoding, hint=True))
        try:
            line1, header = next(lines, (1, None))
        except csv.Error as exc:
            raise LedgerFileError([where(1, csv_problem(exc))]) from None
        if header is None:
            raise BadInput(empty)
        header = [h.strip() for h in header]
    wrong = _header_problem(header)
    if wrong:
        raise LedgerFileError([where(line1, wrong)])
    labels = {_CANONICAL[h]: h for h in header}
    rows: list[dict] = []
    seen: dict[str, int] = {}
    try:
        for line, values in lines:
            _check_record(line, values, header, seen, rows, problems, labels, where)
    except csv.Error as exc:
        problems.append(where(exc.line, csv_problem(exc)))
    if problems:
        raise LedgerFileError(problems)
    return rows


def _check_record(line: int, values: list, header: list[str], seen: dict[str, int],
                  rows: list[dict], problems: list[str], labels: dict[str, str],
                  where: _Where) -> None:
    """Check one record; a good one is appended to ``rows``, problems to ``problems``."""
    if not values or all(not v.strip() if isinstance(v, str) else v is None for v in values):
        return
    if where.excel:
        if len(values) > len(header):
            if any(v not in ("", None) for v in values[len(header):]):
                problems.append(where(line, _("a cell right of the header's last column is "
                                              "filled")))
                return
            values = values[:len(header)]
        values = values + [""] * (len(header) - len(values))
        # a date is a date only in birth_date; elsewhere it is what the cell shows
        values = [v if isinstance(v, str) or _CANONICAL[h] == "birth_date" else v.isoformat()
                  for h, v in zip(header, values)]
    elif len(values) != len(header):
        problems.append(where(line, _("{n} fields, the header has {m}")
                              .format(n=len(values), m=len(header))))
        return
    raw = {_CANONICAL[h]: v for h, v in zip(header, values)}
    number = raw["ledger_no"].strip()
    if not where.excel:
        number = cell_value(number)
    first = seen.get(number) if number else None
    if first is not None:
        problems.append(where(line, _("{column} {number} is already on {where}").format(
            column=labels["ledger_no"], number=repr(number[:40]),
            where=(_("row {n}") if where.excel else _("line {n}")).format(n=first))))
        return
    if number:
        seen[number] = line
    parsed = _parse_row(raw, line, problems, labels, where)
    if parsed is not None:
        parsed["_line"] = line
        rows.append(parsed)


_TRACKED = ("name", "birth_date", "phone", "residence", "home_address", "current_address",
            "homebound", "family_contact_name", "family_contact_phone")


@requires(COORDINATOR)
def import_ledger(session: Session, rows: list[dict], *, actor: Actor,
                  source: str = "import") -> ImportResult:
    """Write checked rows: create new members, update existing ones with history
    (coordinators)."""
    result = ImportResult()
    actor_id = actor.id
    branches: dict[str, int] = {}
    for name in sorted({r["branch"] for r in rows}):
        br, created = get_or_create_branch(session, name=name)
        branches[name] = br.id
        if created:
            result.branches_created.append(name)
    existing: dict[str, Member] = {}
    numbers = [r["ledger_no"] for r in rows]
    for i in range(0, len(numbers), 500):
        chunk = numbers[i:i + 500]
        for m in session.scalars(select(Member).where(Member.ledger_no.in_(chunk))):
            existing[m.ledger_no] = m
    new_rows, changes = [], []
    moves: list = []  # residence changes: movements (`tasks.ledger.movements`), one insert
    today = rules.real_today()
    moved: dict[int, int] = {}  # member id → new branch id
    reason = f"ledger import ({source})"
    for r in rows:
        member = existing.get(r["ledger_no"])
        branch_id = branches[r["branch"]]
        if member is None:
            values = {k: r[k] for k in _TRACKED}
            values.update(ledger_no=r["ledger_no"], branch_id=branch_id,
                          status=MemberStatus.UNVERIFIED, status_by=actor_id,
                          status_reason=reason,
                          # living away: the stay counts from the import (the ledger has
                          # no date of moving), for the transfer after six months
                          away_since=today if r["residence"] == Residence.AWAY else None)
            new_rows.append(values)
            continue
        changed = False
        move = residence_move(member, str(member.residence), str(r["residence"]),
                              happened_on=today, address_changed=(
                                  r["current_address"] != member.current_address))
        if move is not None:
            moves.append(move)
        if r["residence"] == Residence.AWAY and member.away_since is None:
            member.away_since = today  # away, since when unknown: from this import
        if set_member_fields(session, member, {col: r[col] for col in _TRACKED},
                             actor_id=actor_id, reason=reason, changes=changes):
            changed = True
        if member.branch_id != branch_id:
            old_name = session.get(Branch, member.branch_id).name
            changes.append(member_change(member.id, "branch", old_name, r["branch"],
                                         actor_id=actor_id, reason=reason))
            member.branch_id = branch_id
            moved[member.id] = branch_id
            changed = True
        if changed:
            result.updated += 1
        else:
            result.unchanged += 1
    flush(session, _("ledger import"))
    if new_rows:
        for i in range(0, len(new_rows), 5000):
            # render_nulls: one executemany per batch; without it SQLAlchemy groups rows by
            # which fields are empty, and a varied ledger became one INSERT per few rows
            session.execute(insert(Member).execution_options(render_nulls=True),
                            new_rows[i:i + 5000])
        result.created = len(new_rows)
    if changes:
        result.changes = insert_member_changes(session, changes)
    if moves:
        record_movements(session, moves, source=MovementSource.IMPORT, recorded_by=actor_id)
    if moved:
        result.released = _follow_moved(session, moved, actor_id=actor_id, reason=reason)
    flush(session, _("ledger import"))
    return result


def _follow_moved(session: Session, moved: dict[int, int], *, actor_id: int | None,
                  reason: str) -> int:
    """Open tasks follow a member who changed branch: an assigned task whose volunteer
    belongs neither to the new branch nor to a branch above it goes back to open (history:
    ``reason``), for the next assignment (`tasks.campaigns.plan_jobs.assign_open`; escalations: the
    follow-up's hand-out to a coordinator of the new branch). Returns how many went back."""
    chains = tree.chains(session)
    ids = sorted(moved)
    released = 0
    for i in range(0, len(ids), 500):
        rows = session.execute(
            select(OutreachTask, Volunteer.branch_id)
            .join(Volunteer, Volunteer.id == OutreachTask.volunteer_id)
            .where(OutreachTask.member_id.in_(ids[i:i + 500]),
                   OutreachTask.status == TaskStatus.ASSIGNED)
            .order_by(OutreachTask.id)).all()
        for task, volunteer_branch in rows:
            if tree.covers(chains, volunteer_branch, moved[task.member_id]):
                continue
            move_task(session, task, TaskStatus.OPEN, actor_id=actor_id, volunteer_id=None,
                      reason=f"{reason}: member moved to another branch")
            released += 1
    return released


def _member_values(session: Session, *, lang: str,
                   branch_ids: Iterable[int] | None = None) -> Iterator[list]:
    """The ledger as typed cells in `COLUMNS` order (dates as dates, residence and
    homebound in ``lang``'s words), in ledger-number order."""
    words = WORDS[check_lang(lang)]
    stmt = (select(Member.ledger_no, Member.name, Member.birth_date, Member.phone, Branch.name,
                   Member.residence, Member.home_address, Member.current_address,
                   Member.homebound, Member.family_contact_name, Member.family_contact_phone)
            .join(Branch, Branch.id == Member.branch_id).order_by(Member.ledger_no))
    if branch_ids is not None:
        stmt = stmt.where(Member.branch_id.in_(list(branch_ids)))
    for r in session.execute(stmt.execution_options(yield_per=5000)):
        yield [r[0], r[1], r[2], r[3], r[4], words[str(r[5])], r[6], r[7], words[bool(r[8])],
               r[9], r[10]]


def _cell(value, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return safe_cell(value, phone=column in PHONES)


def _note_export(session: Session, actor: Actor, branch_ids: Iterable[int] | None,
                 file_name: str | None) -> None:
    """Log the export (`tasks.ledger.access_log`, door ``export``): every member it writes, one
    INSERT … SELECT whatever the ledger's size."""
    from outreach.tasks.ledger.access_log import EXPORT, note_shown

    members = select(Member.id)
    if branch_ids is not None:
        members = members.where(Member.branch_id.in_(list(branch_ids)))
    note_shown(session, actor=actor, member_ids=members, door=EXPORT, file_name=file_name)


@requires(COORDINATOR)
def export_rows(session: Session, *, actor: Actor, branch_ids: Iterable[int] | None = None,
                lang: str = "en", file_name: str | None = None):
    """Yield the ledger as CSV-ready lists of strings, in ledger-number order
    (coordinators: every member's contact details). The export is logged
    (`tasks.ledger.access_log`, with ``file_name``) before the first row."""
    if branch_ids is not None:
        branch_ids = list(branch_ids)
    _note_export(session, actor, branch_ids, file_name)
    for row in _member_values(session, lang=lang, branch_ids=branch_ids):
        yield [_cell(v, c) for v, c in zip(row, COLUMNS)]


@requires(COORDINATOR)
def export_ledger(session: Session, out: IO[str], *, actor: Actor, lang: str = "en",
                  file_name: str | None = None) -> int:
    """Write the ledger CSV to ``out``, headers and words in ``lang`` (en, zh_CN); returns
    the number of members written (coordinators). Logged with ``file_name``
    (`tasks.ledger.access_log`)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADERS[check_lang(lang)])
    n = 0
    for row in export_rows(session, actor=actor, lang=lang, file_name=file_name):
        writer.writerow(row)
        n += 1
    return n


@requires(COORDINATOR)
def export_ledger_xlsx(session: Session, out: IO[bytes], *, actor: Actor,
                       lang: str = "en", file_name: str | None = None) -> int:
    """Write the ledger as an Excel workbook to ``out`` (`tasks.kernel.xlsxfile`: text as text,
    dates as dates), headers and words in ``lang``; returns the number of members written
    (coordinators). Logged with ``file_name`` (`tasks.ledger.access_log`)."""
    from outreach.tasks.kernel.xlsxfile import write_workbook

    check_lang(lang)
    _note_export(session, actor, None, file_name)
    return write_workbook(out, headers=HEADERS[check_lang(lang)],
                          rows=_member_values(session, lang=lang),
                          sheet="台账" if lang == "zh_CN" else "ledger")
