"""Checking the ledger against its own history: every current state must be the state
its history rows replay to, with no gap in the chain. Set-based, read-only."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from outreach.db.dialect import distinct_from

_CHAIN = """
    SELECT COUNT(*) FROM (
        SELECT {id}, from_status,
               LAG(to_status) OVER (PARTITION BY {id} ORDER BY id) AS prev
        FROM {hist}) x
    WHERE (prev IS NULL AND from_status <> 'new') OR (prev IS NOT NULL AND from_status <> prev)
"""
_LAST = """
    SELECT COUNT(*) FROM {table} r
    LEFT JOIN (SELECT {id}, MAX(id) AS last_id FROM {hist} GROUP BY {id}) l ON l.{id} = r.id
    LEFT JOIN {hist} h ON h.id = l.last_id
    WHERE h.id IS NULL OR h.to_status <> r.status {extra}
"""


def replay(session: Session) -> dict[str, int]:
    """Counts of members and tasks whose history does not replay to their current state
    (``*_broken_chain``: a row whose "from" is not the previous row's "to";
    ``*_mismatch``: the last row's "to" — and for tasks its volunteer — differs from now).
    All zero on a healthy ledger."""
    out = {}
    for name, table, hist, idcol, extra in (
            ("members", "members", "member_status_changes", "member_id", ""),
            ("tasks", "outreach_tasks", "task_status_changes", "task_id",
             "OR h.volunteer_id IS DISTINCT FROM r.volunteer_id")):
        extra = extra.replace("IS DISTINCT FROM", distinct_from(session))
        out[f"{name}_broken_chain"] = session.execute(
            text(_CHAIN.format(id=idcol, hist=hist))).scalar_one()
        out[f"{name}_mismatch"] = session.execute(
            text(_LAST.format(table=table, id=idcol, hist=hist, extra=extra))).scalar_one()
    out["members"] = session.execute(text("SELECT COUNT(*) FROM members")).scalar_one()
    out["tasks"] = session.execute(text("SELECT COUNT(*) FROM outreach_tasks")).scalar_one()
    return out
