"""Named places where the reliability suite kills the process, to prove a crash there
loses nothing.

``OUTREACH_CRASH_AT=plan.matched`` makes the process kill itself with SIGKILL — no
cleanup, no rollback, no ``finally`` — the first time it reaches ``reach("plan.matched")``;
``plan.committed:2`` the second time. A timed ``kill -9`` from outside cannot hit "between
two batches" or "after the writes, before the commit" reliably; these points can, so
tests/reliability/test_crash.py can compare each crashed-then-rerun ledger with an
uninterrupted one, point by point.

Unset (always, outside that suite), `reach` costs one environment lookup.
"""

from __future__ import annotations

import os

_passes: dict[str, int] = {}

#: Every point, where it is, and what a crash there interrupts.
POINTS = {
    "plan.matched": "planning: a batch's targets are read and matched, nothing written yet",
    "plan.written": "assignment: a batch's tasks are inserted and assigned, not committed",
    "plan.committed": "between batches: a batch is committed, the next not started",
    "assign.written": "leftovers: open tasks handed to volunteers, not committed",
    "outcome.recorded": "a volunteer's outcome and its effects are written, not committed",
    "results.row": "an outcomes file: a row is applied inside its chunk, not committed",
}


def reach(name: str) -> None:
    """Kill this process here if ``OUTREACH_CRASH_AT`` names this point (and pass)."""
    want = os.environ.get("OUTREACH_CRASH_AT")
    if not want:
        return
    point, _, nth = want.partition(":")
    if point != name:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if _passes[name] == int(nth or 1):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
