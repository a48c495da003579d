"""Ledger import and export (CSV).

Import is all-or-nothing: every row is checked first and every problem is reported with
its line number; only a file without problems is written, in one transaction. A ledger
number that exists updates that member, and every changed field becomes a row of
`member_changes` (who, when, old, new). Messages name lines and columns, never the
contact details themselves.

Export writes the same columns, so an exported file imports back unchanged. A cell that a
spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` …) is written with a leading
apostrophe, and import takes that apostrophe off again; a value that itself starts with an
apostrophe gets one more (`tasks.csvfile.safe_cell` / `cell_value`).

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
from typing import IO, Iterable

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from db.codes import MovementSource
from db.errors import BadInput, shown
from db.machines import MemberStatus, TaskStatus
from db.models import Branch, Member, MemberChange, OutreachTask, Residence, Volunteer
from db.state import flush, move_task
from tasks.access import COORDINATOR, Actor, requires
from tasks import rules, tree
from tasks.csvfile import CONTROL, PHONE_SHAPE, cell_value, records, safe_cell, text_of
from tasks.movements import record_movements, residence_move
from tasks.people import get_or_create_branch

COLUMNS = (
    "ledger_no", "name", "birth_date", "phone", "branch", "residence", "home_address",
    "current_address", "homebound", "family_contact_name", "family_contact_phone",
)
REQUIRED = ("ledger_no", "name", "branch")
MAX_LEN = {"ledger_no": 40, "name": 200, "branch": 120, "phone": 40,
           "family_contact_phone": 40, "family_contact_name": 200,
           "home_address": 500, "current_address": 500}
#: Fields that hold contact details: never echoed in an error message.
PRIVATE = {"phone", "home_address", "current_address", "family_contact_name",
           "family_contact_phone"}
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
        text = "\n".join(shown) + (f"\n… and {more} more" if more > 0 else "")
        super().__init__(f"the file was refused, nothing was imported "
                         f"({len(problems)} problem{'s' if len(problems) != 1 else ''}):\n{text}")


def _parse_row(raw: dict[str, str], line: int, problems: list[str]) -> dict | None:
    row = {k: cell_value((raw.get(k) or "").strip()) for k in COLUMNS}
    start = len(problems)

    def bad(col: str, what: str) -> None:
        problems.append(f"line {line}: {col} {what}")

    for col in REQUIRED:
        if not row[col]:
            bad(col, "is required")
    for col, limit in MAX_LEN.items():
        if len(row[col]) > limit:
            bad(col, f"is longer than {limit} characters")
        elif CONTROL.search(row[col]):
            bad(col, "contains control characters")
    for col in ("phone", "family_contact_phone"):
        if row[col] and len(row[col]) <= MAX_LEN[col] and not PHONE_SHAPE.match(row[col]):
            bad(col, "has characters a phone number cannot have")
    birth = None
    if row["birth_date"]:
        try:
            birth = rules.parse_day(row["birth_date"], "birth_date")
        except BadInput as exc:
            problems.append(f"line {line}: {exc}")
        else:
            if birth > dt.date.today():
                bad("birth_date", f"{birth} is not a possible birth date")
    residence = row["residence"].lower() or "local"
    if residence not in ("local", "away"):
        bad("residence", f"must be local or away, not {shown(row['residence'])}")
    homebound = False
    try:
        homebound = rules.parse_yes_no(row["homebound"], "homebound", empty=False)
    except BadInput as exc:
        problems.append(f"line {line}: {exc}")
    if len(problems) > start:
        return None
    return {
        "ledger_no": row["ledger_no"], "name": row["name"], "birth_date": birth,
        "phone": row["phone"] or None, "branch": row["branch"],
        "residence": Residence(residence), "home_address": row["home_address"] or None,
        "current_address": row["current_address"] or None, "homebound": homebound,
        "family_contact_name": row["family_contact_name"] or None,
        "family_contact_phone": row["family_contact_phone"] or None,
    }


def read_ledger(source: str | Path | IO[bytes]) -> list[dict]:
    """Parse and check a ledger file; raises `LedgerFileError` listing every problem."""
    data = source.read() if hasattr(source, "read") else Path(source).read_bytes()
    lines = records(text_of(data))
    problems: list[str] = []
    try:
        _, header = next(lines, (1, None))
    except csv.Error as exc:
        raise LedgerFileError([f"line 1: {str(exc)[:120]}"]) from None
    if header is None:
        raise BadInput("the file is empty: expected the header " + ",".join(COLUMNS))
    header = [h.strip() for h in header]
    missing = [c for c in COLUMNS if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if missing or unknown or dupes:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing))
        if unknown:
            # shown(): a file without its header row has data (phones, addresses) here
            parts.append("unknown " + ", ".join(sorted({shown(u) for u in unknown})))
        if dupes:
            parts.append("repeated " + ", ".join(dupes))
        raise LedgerFileError([f"line 1: the header must be exactly {','.join(COLUMNS)} "
                               f"({'; '.join(parts)})"])
    rows: list[dict] = []
    seen: dict[str, int] = {}
    try:
        for line, values in lines:
            _check_record(line, values, header, seen, rows, problems)
    except csv.Error as exc:
        problems.append(f"line {exc.line}: {str(exc)[:120]}")
    if problems:
        raise LedgerFileError(problems)
    return rows


def _check_record(line: int, values: list[str], header: list[str], seen: dict[str, int],
                  rows: list[dict], problems: list[str]) -> None:
    """Check one record; a good one is appended to ``rows``, problems to ``problems``."""
    if not values or all(not v.strip() for v in values):
        return
    if len(values) != len(header):
        problems.append(f"line {line}: {len(values)} fields, the header has {len(header)}")
        return
    raw = dict(zip(header, values))
    number = cell_value(raw["ledger_no"].strip())
    first = seen.get(number) if number else None
    if first is not None:
        problems.append(f"line {line}: ledger_no {number[:40]!r} is already on line {first}")
        return
    if number:
        seen[number] = line
    parsed = _parse_row(raw, line, problems)
    if parsed is not None:
        parsed["_line"] = line
        rows.append(parsed)


_TRACKED = ("name", "birth_date", "phone", "residence", "home_address", "current_address",
            "homebound", "family_contact_name", "family_contact_phone")


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


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
    moves: list = []  # residence changes: movements (`tasks.movements`), one insert
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
                          status_reason=reason)
            new_rows.append(values)
            continue
        changed = False
        move = residence_move(member, str(member.residence), str(r["residence"]),
                              happened_on=today, address_changed=(
                                  r["current_address"] != member.current_address))
        if move is not None:
            moves.append(move)
        for col in _TRACKED:
            old, new = getattr(member, col), r[col]
            if old != new:
                changes.append(dict(member_id=member.id, field=col, old_value=_text(old),
                                    new_value=_text(new), actor_id=actor_id, reason=reason))
                setattr(member, col, new)
                changed = True
        if member.branch_id != branch_id:
            old_name = session.get(Branch, member.branch_id).name
            changes.append(dict(member_id=member.id, field="branch", old_value=old_name,
                                new_value=r["branch"], actor_id=actor_id, reason=reason))
            member.branch_id = branch_id
            moved[member.id] = branch_id
            changed = True
        if changed:
            result.updated += 1
        else:
            result.unchanged += 1
    flush(session, "ledger import")
    if new_rows:
        for i in range(0, len(new_rows), 5000):
            session.execute(insert(Member), new_rows[i:i + 5000])
        result.created = len(new_rows)
    if changes:
        session.execute(insert(MemberChange), changes)
        result.changes = len(changes)
    if moves:
        record_movements(session, moves, source=MovementSource.IMPORT, recorded_by=actor_id)
    if moved:
        result.released = _follow_moved(session, moved, actor_id=actor_id, reason=reason)
    flush(session, "ledger import")
    return result


def _follow_moved(session: Session, moved: dict[int, int], *, actor_id: int | None,
                  reason: str) -> int:
    """Open tasks follow a member who changed branch: an assigned task whose volunteer
    belongs neither to the new branch nor to a branch above it goes back to open (history:
    ``reason``), for the next assignment (`tasks.plan_jobs.assign_open`; escalations: the
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


def _cell(value, column: str) -> str:
    if value is None:
        return ""
    return safe_cell(_text(value), phone=column in ("phone", "family_contact_phone"))


@requires(COORDINATOR)
def export_rows(session: Session, *, actor: Actor, branch_ids: Iterable[int] | None = None):
    """Yield the ledger as CSV-ready lists of strings, in ledger-number order
    (coordinators: every member's contact details)."""
    stmt = (select(Member.ledger_no, Member.name, Member.birth_date, Member.phone, Branch.name,
                   Member.residence, Member.home_address, Member.current_address,
                   Member.homebound, Member.family_contact_name, Member.family_contact_phone)
            .join(Branch, Branch.id == Member.branch_id).order_by(Member.ledger_no))
    if branch_ids is not None:
        stmt = stmt.where(Member.branch_id.in_(list(branch_ids)))
    for row in session.execute(stmt.execution_options(yield_per=5000)):
        yield [_cell(v, c) for v, c in zip(row, COLUMNS)]


@requires(COORDINATOR)
def export_ledger(session: Session, out: IO[str], *, actor: Actor) -> int:
    """Write the ledger CSV to ``out``; returns the number of members written
    (coordinators)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    n = 0
    for row in export_rows(session, actor=actor):
        writer.writerow(row)
        n += 1
    return n
