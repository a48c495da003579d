"""What a task list looks like on paper and as JSON: the run sheet's columns and rows.

Pure Python (no database, no SQLAlchemy): the CLI prints these both for the ledger on this
machine and for lists that came from the ledger service (`outreach serve`).
"""

from __future__ import annotations

import json

#: The columns of `outreach tasks --format json` (one dict per task).
LIST_FIELDS = ("id", "kind", "status", "member_id", "member", "branch", "volunteer_id", "due",
               "attempts", "next_attempt", "overdue")
#: A run sheet: the list plus what a visit needs, and empty columns to fill in by hand.
#: `outreach outcomes import` takes the filled-in sheet back (task_id,outcome,note,answers).
SHEET_FIELDS = ("task_id", "kind", "member_id", "member", "branch", "due", "attempts",
                "phone", "address", "outcome", "note", "answers")


def sheet_rows(rows: list[dict]) -> list[dict]:
    return [{"task_id": r["id"], "kind": r["kind"], "member_id": r["member_id"],
             "member": r["member"], "branch": r["branch"], "due": r["due"],
             "attempts": r["attempts"], "phone": r.get("phone", ""),
             "address": r.get("address", ""), "outcome": "", "note": "", "answers": ""}
            for r in rows]


def to_json(rows: list[dict]) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=1)
