"""Run tickets: who acts in a flow run, without a code in Prefect's hands.

A flow that changes the ledger on a person's behalf (record-outcomes, plan-meeting)
cannot take "who" as a plain parameter: anyone who reaches Prefect could type any id. Nor
can it take the person's access code: Prefect keeps flow-run parameters in clear in its
database (a ``SecretStr`` is masked in the form and the logs, not in storage), where
everyone with the stack's auth string can read them, for as long as the run is kept.

So the coordinator asks for a **run ticket** (`outreach outcomes ticket`, or `outreach
outcomes import`, which makes one itself): ``ticket-<id>-<secret>``, good for one run of
one purpose for a few minutes. The ticket carries its own authority — the coordinator,
the purpose, the expiry — and the ledger keeps only a hash of its secret and a stamp of
the coordinator's code (`tasks.access.permissions.code_stamp`, a hash of the code's hash): a code
changed or a coordinator deactivated since stops the ticket, and nothing stored anywhere,
here or in Prefect, yields an access code (issue 24: the ticket used to carry the
coordinator's permanent code, sealed).

A ticket is **burned by any use**, accepted or refused (`tasks.access.ticket_jobs.use` commits
the delete before it judges), and expired tickets are deleted whenever a ticket is made or used.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from outreach.db.errors import BadInput, Refused
from outreach.db.models import RunTicket, Volunteer
from outreach.i18n import _
from outreach.tasks.access.permissions import (
    Actor, acting_for, authenticate, code_stamp, require_coordinator,
)

#: What a ticket may be used for (one flow each).
PURPOSES = frozenset({"record-outcomes", "plan-meeting"})
#: The command that prints a ticket for each purpose (named in refusals).
ASK = {"record-outcomes": "outreach outcomes ticket", "plan-meeting": "outreach meeting ticket"}
#: How long a ticket is good for, in minutes: the default and the most.
MINUTES, MAX_MINUTES = 15, 60
_FORM = re.compile(r"ticket-(\d{1,9})-([0-9a-f]{32})")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _hash(secret: str) -> str:
    return hashlib.sha256(b"outreach-run-ticket-hash\0" + secret.encode()).hexdigest()


def purge_expired(session: Session) -> int:
    """Delete every expired ticket; how many went."""
    return session.execute(delete(RunTicket).where(RunTicket.expires_at < _utcnow())).rowcount


def issue(session: Session, code: str | None, *, purpose: str,
          minutes: int = MINUTES) -> str:
    """A ticket for one ``purpose`` run by the coordinator whose ``code`` this is; shown
    once, never stored. Expired tickets are cleared on the way."""
    if purpose not in PURPOSES:
        raise BadInput(_("no run ticket for {purpose}").format(purpose=repr(purpose[:40])))
    if not 1 <= minutes <= MAX_MINUTES:
        raise BadInput(_("a run ticket lasts 1 to {most} minutes").format(most=MAX_MINUTES))
    actor = authenticate(session, code)
    require_coordinator(actor)
    purge_expired(session)
    secret = secrets.token_hex(16)
    row = RunTicket(purpose=purpose, secret_hash=_hash(secret), volunteer_id=actor.id,
                    code_stamp=code_stamp(session.get(Volunteer, actor.id)),
                    expires_at=_utcnow() + dt.timedelta(minutes=minutes))
    session.add(row)
    session.flush()
    return f"ticket-{row.id}-{secret}"


@dataclass(frozen=True)
class Authority:
    """What a burned ticket said: who, for what, until when."""

    volunteer_id: int
    purpose: str
    expires_at: dt.datetime
    code_stamp: str


def burn(session: Session, ticket: str | None, *, ask: str) -> Authority:
    """Find the ticket and delete it (and every expired one); what it said, to `judge`.
    Refuses a ticket that is not one, or is wrong or used."""
    found = _FORM.fullmatch((ticket or "").strip())
    if not found:
        if re.fullmatch(r"\d+-[\w-]+", ticket or ""):
            raise Refused(_("that is not a run ticket — never type an access code into "
                            "Prefect; ask for a ticket with `{ask}`").format(ask=ask))
        raise Refused(_("that is not a run ticket"))
    tid, secret = int(found.group(1)), found.group(2)
    row = session.scalar(select(RunTicket).where(RunTicket.id == tid).with_for_update())
    purge_expired(session)
    if row is None or not hmac.compare_digest(row.secret_hash, _hash(secret)):
        raise Refused(_("wrong or used run ticket: ask for a new one with `{ask}`").format(
            ask=ask))
    session.execute(delete(RunTicket).where(RunTicket.id == tid))
    return Authority(row.volunteer_id, row.purpose, row.expires_at, row.code_stamp)


def judge(session: Session, it: Authority, *, purpose: str, ask: str) -> Actor:
    """The coordinator a burned ticket stands for, if it was for ``purpose``, has not
    expired and its coordinator still holds the code that made it."""
    if it.purpose != purpose:
        raise Refused(_("this run ticket is for {it}, not {purpose}").format(
            it=it.purpose, purpose=purpose))
    if it.expires_at < _utcnow():
        raise Refused(_("this run ticket has expired: ask for a new one with `{ask}`").format(
            ask=ask))
    actor = acting_for(session, it.volunteer_id, stamp=it.code_stamp)
    require_coordinator(actor)
    return actor


def redeem(session: Session, ticket: str | None, *, purpose: str) -> Actor:
    """The coordinator a ticket stands for; the ticket is deleted in this transaction.
    A wrong, used, expired or misdirected ticket is refused. The caller owns the
    transaction: a refusal rolls the delete back with it — flows use `tasks.access.ticket_jobs.use`,
    which burns the ticket whatever the answer."""
    ask = ASK.get(purpose, "outreach outcomes ticket")
    it = burn(session, ticket, ask=ask)
    session.flush()
    return judge(session, it, purpose=purpose, ask=ask)
