"""What a task list looks like on paper and as JSON: the run sheet's columns and rows.

Pure Python (no database, no SQLAlchemy): the CLI prints these both for the ledger on this
machine and for lists that came from the ledger service (`outreach serve`).
"""

from __future__ import annotations

import json

from outreach.i18n import N_, _, pgettext

#: The columns of `outreach tasks --format json` (one dict per task).
LIST_FIELDS = ("id", "kind", "status", "member_id", "member", "branch", "volunteer_id", "due",
               "attempts", "next_attempt", "overdue")
#: A run sheet: the list plus what a visit needs, and empty columns to fill in by hand.
#: `outreach outcomes import` takes the filled-in sheet back (task_id,outcome,note,answers).
SHEET_FIELDS = ("task_id", "kind", "member_id", "member", "branch", "due", "attempts",
                "phone", "address", "outcome", "note", "answers")


#: What people read above each column (the `table` format, a printed or xlsx run sheet);
#: CSV and JSON keep the field names (programs and `outreach outcomes import` read them).
HEADINGS: dict[str, str] = {
    "id": N_("task"), "task_id": N_("task"), "kind": N_("kind"), "status": N_("status"),
    "member_id": N_("member id"), "member": N_("member"), "branch": N_("branch"),
    "volunteer_id": N_("volunteer"), "volunteer": N_("volunteer"),
    "attempts": N_("attempts"), "next_attempt": N_("next attempt"), "overdue": N_("overdue"),
    "phone": N_("phone"), "address": N_("address"), "outcome": N_("outcome"),
    "note": N_("note"), "answers": N_("answers"),
}


def headings(fields) -> list[str]:
    """The headings of ``fields`` in the current language (``due``: a task's due date,
    not the meetings due of the meeting report, hence its context)."""
    return [pgettext("task", "due") if f == "due" else _(HEADINGS[f]) if f in HEADINGS
            else f for f in fields]


def sheet_rows(rows: list[dict]) -> list[dict]:
    return [{"task_id": r["id"], "kind": r["kind"], "member_id": r["member_id"],
             "member": r["member"], "branch": r["branch"], "due": r["due"],
             "attempts": r["attempts"], "phone": r.get("phone", ""),
             "address": r.get("address", ""), "outcome": "", "note": "", "answers": ""}
            for r in rows]


def to_json(rows: list[dict]) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=1)


#: The narrowest each run-sheet column may be in Excel: room to write by hand.
_SHEET_ROOM = {"outcome": 16, "note": 30, "answers": 20}


def to_xlsx(rows: list[dict]) -> bytes:
    """The run sheet as an Excel workbook (`tasks.kernel.xlsxfile`): headings and kinds in the
    current language, due dates as dates, phone numbers as text, and room to write the
    outcome by hand; printable on A4 (landscape, fit to width, the header on every page)."""
    import datetime as dt

    from outreach.tasks.kernel.labels import label
    from outreach.tasks.kernel.xlsxfile import workbook_bytes

    def cell(field: str, value):
        if field == "kind":
            return label(value, of="task_kind")
        if field == "due" and isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                return value
        return value

    body = [[cell(f, r[f]) for f in SHEET_FIELDS] for r in sheet_rows(rows)]
    return workbook_bytes(headers=headings(SHEET_FIELDS), rows=body, sheet=_("run sheet"),
                          least=[_SHEET_ROOM.get(f, 0) for f in SHEET_FIELDS])
