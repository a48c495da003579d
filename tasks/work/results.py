"""Applying a results file: outcomes typed in from paper run sheets, or sent by volunteers
who were offline. Columns ``task_id,outcome,note,answers`` (more are ignored, so a filled-in
run sheet from ``outreach tasks --format csv`` imports as it is; an optional ``date``
column gives the day of the visit). ``answers`` is ``key=value; key=value``.

Each row goes through `tasks.work.outcomes.record_outcome` — the same rule the CLI uses — in
its own savepoint: a bad row is reported with its line number and skipped, good rows are
applied. A row is applied at most once, ever: its key is a hash of its content (task,
outcome, note, answers, date and how many identical rows came before it in the file), so
importing the same file again, or a corrected copy of it, skips what was already applied.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from outreach.db import crashpoints
from outreach.db.errors import BadInput, OutreachError, shown
from outreach.i18n import _
from outreach.tasks.access.permissions import PERSON, Actor, requires
from outreach.tasks.kernel.csvfile import must_be_file, records, text_of
from outreach.tasks.work.outcomes import record_outcome
from outreach.tasks.kernel.rules import check_not_future, parse_day
from outreach.tasks.work.rules import parse_answers

REQUIRED = ("task_id", "outcome")


@dataclass
class ResultsReport:
    applied: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)
    by_outcome: dict[str, int] = field(default_factory=dict)
    escalations: int = 0


def parse_answer_cell(cell: str) -> dict[str, str]:
    cell = cell.strip()
    if not cell:
        return {}
    if cell.startswith("{"):
        try:
            data = json.loads(cell)
        except json.JSONDecodeError:
            raise BadInput(_("answers is not valid JSON")) from None
        if not isinstance(data, dict):
            raise BadInput(_("answers JSON must be an object"))
        return {str(k).lower(): str(v) for k, v in data.items()}
    return parse_answers([p for p in (x.strip() for x in cell.split(";")) if p])


def read_results(data: bytes) -> list[tuple[int, dict[str, str]]]:
    """(line, row) pairs of a results file; refuses a file that is not CSV at all."""
    lines = records(text_of(data))
    try:
        __, header = next(lines, (1, None))
    except csv.Error as exc:
        raise BadInput(_("line {line}: {problem}; nothing was applied").format(
            line=1, problem=str(exc)[:100])) from None
    if not header:
        raise BadInput(_("the file is empty: expected the header task_id,outcome,note,answers"))
    names = [n.strip() for n in header]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise BadInput(_("line 1: the header lacks {columns} (expected "
                         "task_id,outcome,note,answers)").format(columns=", ".join(missing)))
    rows = []
    try:
        for start, values in lines:
            if not any(v.strip() for v in values):
                continue
            row = dict(zip(names, values))
            for name in names[len(values):]:
                row.setdefault(name, None)
            if any(v.strip() for v in values[len(names):]):
                row[None] = _("{n} fields, the header has {m}").format(n=len(values),
                                                                       m=len(names))
            rows.append((start, row))
    except csv.Error as exc:
        raise BadInput(_("line {line}: {problem}; nothing was applied").format(
            line=exc.line, problem=str(exc)[:100])) from None
    return rows


#: What makes a row the same row: a run sheet's ``attempts`` column (the count when the
#: sheet was printed) tells a new attempt on a later sheet from a replay of an old one.
KEY_COLUMNS = ("task_id", "outcome", "note", "answers", "date", "attempts")


def _ident(row: dict[str, str]) -> tuple[str, ...]:
    return tuple((row.get(k) or "").strip() for k in KEY_COLUMNS)


def row_key(row: dict[str, str], occurrence: int) -> str:
    parts = list(_ident(row))
    digest = hashlib.sha256("\x1f".join(parts + [str(occurrence)]).encode()).hexdigest()[:32]
    return f"results:{digest}"


@requires(PERSON)
def apply_results(session: Session, rows: list[tuple[int, dict[str, str]]], *, actor: Actor,
                  today: dt.date | None = None, start: int = 0,
                  stop: int | None = None) -> ResultsReport:
    """Apply rows[start:stop] one by one, each in a savepoint; collect problems by line.

    ``rows`` is always the whole file: identical rows are numbered over the whole file,
    so a file applied in chunks gets the same keys as one applied at once.

    ``today``: the day of rows without a ``date`` — refused whole when in the future; each
    row's day is checked by `record_outcome` (not in the future, not before its task).
    """
    if today is not None:
        check_not_future(today, "the date of the visits (--today)")
    report = ResultsReport()
    seen: dict[tuple, int] = {}
    for ident in map(_ident, (row for __, row in rows[:start])):
        seen[ident] = seen.get(ident, 0) + 1
    for line, row in rows[start:stop]:
        ident = _ident(row)
        seen[ident] = seen.get(ident, 0) + 1
        key = row_key(row, seen[ident])
        try:
            if row.get(None):  # like csv.DictReader's restkey: fields beyond the header
                raise BadInput(_("{problem} (is there an unquoted comma in a note?)").format(
                    problem=row[None]))
            raw_id = (row.get("task_id") or "").strip()
            if not (raw_id.isascii() and raw_id.isdigit()) or len(raw_id) > 18:
                raise BadInput(_("task_id {value} is not a task id").format(
                    value=shown(raw_id)))
            outcome = (row.get("outcome") or "").strip()
            if not outcome:
                raise BadInput(_("outcome is empty"))
            answers = parse_answer_cell(row.get("answers") or "")
            day = today
            if (row.get("date") or "").strip():
                day = parse_day(row["date"], "date")
            note = (row.get("note") or "").strip() or None
            with session.begin_nested():
                res = record_outcome(session, task_id=int(raw_id), outcome=outcome,
                                     actor=actor, note=note, answers=answers, today=day,
                                     source_key=key)
        except OutreachError as exc:
            report.problems.append(_("line {line}: {problem}").format(line=line, problem=exc))
            continue
        if res.duplicate:
            report.duplicates += 1
            continue
        report.applied += 1
        crashpoints.reach("results.row")
        report.by_outcome[res.outcome] = report.by_outcome.get(res.outcome, 0) + 1
        if res.escalation_task_id:
            report.escalations += 1
    return report


def load_results_file(path: str | Path) -> list[tuple[int, dict[str, str]]]:
    must_be_file(path)
    return read_results(Path(path).read_bytes())
