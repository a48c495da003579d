"""A volunteer's session on the phone pages (``/app/``, issue 26): the cookie a login gives.

The volunteer logs in once with their access code (the same code as the CLI, checked by
`tasks.access.permissions.authenticate` with its wrong-code slow-down); the phone then holds a session
cookie, ``s-<volunteer id>-<secret>``: 256 random bits, of which the ledger keeps only a
hash (``app_sessions.token_hash``). The hash is made together with a stamp of the
volunteer's current access code (`tasks.access.permissions.code_stamp`), so that a new code — the
coordinator's answer to a lost phone — ends every session the old one opened, without a
row to find and delete; a volunteer made inactive is refused too (`acting_for`).

A session ends at logout (`end`) or after `IDLE_DAYS` days without use: `check` refuses
it, and `purge_idle` deletes the rows (the daily sweep, like the idempotency keys). Use is
noted at most once per `TOUCH_EVERY`, so that reading a page rarely writes.

Service functions here take a Session and flush, never commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from outreach.db.errors import Refused
from outreach.db.models import AppSession, Volunteer
from outreach.i18n import N_, _
from outreach.tasks.access.permissions import PERSON, Actor, acting_for, code_stamp, requires

#: A session not used for this many days has ended (issue 26: "expires after 30 days idle").
IDLE_DAYS = 30
#: How often a session's use is written down (``last_seen_at``): reading pages seldom writes.
TOUCH_EVERY = dt.timedelta(hours=1)
#: The cookie's value: ``s-<volunteer id>-<64 hex digits>``.
_FORM = re.compile(r"s-(\d{1,9})-([0-9a-f]{64})")
#: What a missing, wrong, ended or expired session is told (the login page says it).
ENDED = N_("your session has ended: please log in again with your access code")


@dataclass(frozen=True)
class Visit:
    """Who a session cookie stands for, the session's row id, and whether its use is due
    to be written down (`touch`)."""

    actor: Actor
    session_id: int
    due: bool


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _hash(secret: str, stamp: str) -> str:
    return hashlib.sha256(b"outreach-app-session\0" + stamp.encode() + b"\0"
                          + secret.encode()).hexdigest()


@requires(PERSON)
def start(session: Session, *, actor: Actor, now: dt.datetime | None = None) -> str:
    """A new session for ``actor`` (who has just given their code): the cookie's value.
    Only its hash is stored."""
    vol = session.get(Volunteer, actor.id)
    secret = secrets.token_hex(32)
    now = now or _utcnow()
    session.add(AppSession(token_hash=_hash(secret, code_stamp(vol)), volunteer_id=vol.id,
                           created_at=now, last_seen_at=now))
    session.flush()
    return f"s-{vol.id}-{secret}"


def _row(session: Session, token: str | None) -> AppSession | None:
    m = _FORM.fullmatch(token or "")
    if m is None:
        return None
    vol = session.get(Volunteer, int(m.group(1)))
    if vol is None:
        return None
    return session.scalars(select(AppSession).where(
        AppSession.token_hash == _hash(m.group(2), code_stamp(vol)),
        AppSession.volunteer_id == vol.id)).first()


def check(session: Session, token: str | None, *, now: dt.datetime | None = None) -> Visit:
    """The person a session cookie stands for; `Refused` (`ENDED`) when there is none, it
    is wrong, it was ended, it has been idle `IDLE_DAYS` days, the volunteer's code has
    changed since, or the volunteer is no longer active. Writes nothing."""
    now = now or _utcnow()
    row = _row(session, token)
    if row is None or row.last_seen_at < now - dt.timedelta(days=IDLE_DAYS):
        raise Refused(_(ENDED))
    vol = session.get(Volunteer, row.volunteer_id)
    actor = acting_for(session, vol.id, stamp=code_stamp(vol))  # refuses an inactive one
    return Visit(actor, row.id, row.last_seen_at < now - TOUCH_EVERY)


@requires(PERSON)
def touch(session: Session, *, actor: Actor, session_id: int,
          now: dt.datetime | None = None) -> None:
    """Note that ``actor``'s session was used now (its 30 idle days start again)."""
    session.execute(update(AppSession).where(AppSession.id == session_id,
                                             AppSession.volunteer_id == actor.id)
                    .values(last_seen_at=now or _utcnow()))
    session.flush()


@requires(PERSON)
def end(session: Session, *, actor: Actor, token: str | None) -> bool:
    """Log out: the session of this cookie, if it is ``actor``'s, is deleted. Whether one
    was."""
    row = _row(session, token)
    if row is None or row.volunteer_id != actor.id:
        return False
    session.delete(row)
    session.flush()
    return True


def purge_idle(session: Session, *, now: dt.datetime | None = None) -> int:
    """Delete every session idle for `IDLE_DAYS` days (the daily sweep); how many."""
    cutoff = (now or _utcnow()) - dt.timedelta(days=IDLE_DAYS)
    result = session.execute(delete(AppSession).where(AppSession.last_seen_at < cutoff))
    session.flush()
    return result.rowcount or 0
