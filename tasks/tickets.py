"""Run tickets: who acts in a flow run, without a code in Prefect's hands.

A flow that changes the ledger on a person's behalf (record-outcomes, plan-meeting)
cannot take "who" as a plain parameter: anyone who reaches Prefect could type any id. Nor
can it take the person's access code: Prefect keeps flow-run parameters in clear in its
database (a ``SecretStr`` is masked in the form and the logs, not in storage), where
everyone with the stack's auth string can read them, for as long as the run is kept.

So the coordinator asks for a **run ticket** (`outreach outcomes ticket`, or `outreach
outcomes import`, which makes one itself): ``ticket-<id>-<secret>``, valid for a few
minutes and for one run. The ledger keeps only a hash of the secret and the
coordinator's access code *sealed* with it (XOR with a SHAKE-256 stream of the secret,
which is random and used once). The flow redeems the ticket: the row is deleted in the
same transaction, the code is unsealed and checked by `tasks.access.authenticate` like
any code — so a code changed or a coordinator deactivated since stops the ticket too.
Prefect's database then holds only a used ticket; the ledger never held the code in clear.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from db.errors import BadInput, Refused
from db.models import RunTicket
from i18n import _
from tasks.access import Actor, authenticate, require_coordinator

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


def _xor(data: bytes, secret: str) -> bytes:
    pad = hashlib.shake_256(b"outreach-run-ticket-seal\0" + secret.encode()).digest(len(data))
    return bytes(a ^ b for a, b in zip(data, pad))


def issue(session: Session, code: str | None, *, purpose: str,
          minutes: int = MINUTES) -> str:
    """A ticket for one ``purpose`` run by the coordinator whose ``code`` this is; shown
    once, never stored. Expired tickets are cleared on the way."""
    if purpose not in PURPOSES:
        raise BadInput(_("no run ticket for {purpose}").format(purpose=repr(purpose[:40])))
    if not 1 <= minutes <= MAX_MINUTES:
        raise BadInput(_("a run ticket lasts 1 to {most} minutes").format(most=MAX_MINUTES))
    require_coordinator(authenticate(session, code))
    now = _utcnow()
    session.execute(delete(RunTicket).where(RunTicket.expires_at < now))
    secret = secrets.token_hex(16)
    row = RunTicket(purpose=purpose, secret_hash=_hash(secret),
                    sealed=_xor(code.strip().encode(), secret).hex(),
                    expires_at=now + dt.timedelta(minutes=minutes))
    session.add(row)
    session.flush()
    return f"ticket-{row.id}-{secret}"


def redeem(session: Session, ticket: str | None, *, purpose: str) -> Actor:
    """The coordinator a ticket stands for; the ticket is used up (deleted) in this
    transaction. A wrong, used, expired or misdirected ticket is refused."""
    ask = ASK.get(purpose, "outreach outcomes ticket")
    found = _FORM.fullmatch((ticket or "").strip())
    if not found:
        if re.fullmatch(r"\d+-[\w-]+", ticket or ""):
            raise Refused(_("that is not a run ticket — never type an access code into "
                            "Prefect; ask for a ticket with `{ask}`").format(ask=ask))
        raise Refused(_("that is not a run ticket"))
    tid, secret = int(found.group(1)), found.group(2)
    row = session.scalar(select(RunTicket).where(RunTicket.id == tid).with_for_update())
    if row is None or not hmac.compare_digest(row.secret_hash, _hash(secret)):
        raise Refused(_("wrong or used run ticket: ask for a new one with `{ask}`").format(
            ask=ask))
    session.delete(row)
    session.flush()
    if row.purpose != purpose:
        raise Refused(_("this run ticket is for {it}, not {purpose}").format(
            it=row.purpose, purpose=purpose))
    if row.expires_at < _utcnow():
        raise Refused(_("this run ticket has expired: ask for a new one with `{ask}`").format(
            ask=ask))
    code = _xor(bytes.fromhex(row.sealed), secret).decode()
    actor = authenticate(session, code)
    require_coordinator(actor)
    return actor
