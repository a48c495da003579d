"""Run tickets for a flow run: burned before they are judged (`tasks.access.tickets`).

Transactions: `use` takes an Engine and owns two transactions — the first deletes the
ticket and commits, whatever comes next; the second (read-only) judges what the ticket
said. So a ticket refused for the wrong purpose, expired, or whose coordinator's code
changed cannot be tried again.
"""

from __future__ import annotations

from sqlalchemy import Engine

from outreach.db.session import session_scope
from outreach.tasks.access.permissions import Actor
from outreach.tasks.access.tickets import ASK, burn, judge


def use(engine: Engine, ticket: str | None, *, purpose: str) -> Actor:
    """The coordinator a run ticket for ``purpose`` stands for; the ticket is burned
    (committed) before it is judged."""
    ask = ASK.get(purpose, "outreach outcomes ticket")
    with session_scope(engine) as s:
        it = burn(s, ticket, ask=ask)
    with session_scope(engine, write=False) as s:
        return judge(s, it, purpose=purpose, ask=ask)
