"""Idempotency keys: a write sent twice is done once, and the second gets the first answer.

A phone resending its queue, a command run again after the network dropped its answer, a
client retrying twenty times at once: every write carries an ``Idempotency-Key`` (the
ledger service requires one; the CLI sends one fresh key per command, or the one given
with ``--idempotency-key``). `once` is the one home of the rule, for the service and for
the CLI on a local ledger alike:

- The key is one person's (UNIQUE volunteer_id, key): the same key from someone else is
  another key.
- The first request *claims* the key by inserting its row before it does any work, in the
  same transaction as the write; the answer is filled in when the work is done. A request
  that finds the row gets the stored answer (same status, same body) and does nothing.
- Twenty retries at once: on SQLite writers queue on ``BEGIN IMMEDIATE``, so each later
  one finds the row. On PostgreSQL a second insert of the same unique key waits for the
  first transaction and then fails (unique violation): the claim is rolled back to its
  savepoint and the stored answer read (READ COMMITTED sees the committed row). If the
  first transaction rolled back instead, the waiting insert goes through and does the work.
- Only a write that was done is remembered: a refusal rolls the whole transaction back
  (claim included) and a retry is judged afresh; an answer that wrote nothing (a survey's
  questions) gives the key back.
- The same key with another request (``request_hash``: method, path and the canonical
  body) is refused: `KeyReused` (the service answers 422).
- Keys are kept `KEEP_DAYS` days: each write drops its person's older keys, and the daily
  follow-up sweep (`purge`) everyone's.

Service functions here take a Session and flush, never commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outreach.db.errors import BadInput
from outreach.db.models import IdempotencyKey
from outreach.i18n import _
from outreach.tasks.access.permissions import PERSON, Actor, requires

#: 1–100 characters of letters, digits and ``_ . : -`` (a UUID, a ULID, "phone-1:42" …).
KEY_SHAPE = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
#: How long a key is remembered: a retry comes within minutes, a phone's queue within days.
KEEP_DAYS = 30
#: The header that carries it.
HEADER = "Idempotency-Key"


class KeyReused(BadInput):
    """The same Idempotency-Key came with a different request (the service answers 422)."""


@dataclass(frozen=True)
class Answer:
    """A write's answer: its HTTP status and JSON body; ``replay`` when it is the stored
    first answer of an earlier request with the same key."""

    status: int
    body: Any
    replay: bool = False


def check_key(key: str | None) -> str:
    """The key, or BadInput: missing, or not 1–100 of ``A-Z a-z 0-9 _ . : -``."""
    if key is None or not key.strip():
        raise BadInput(_("a write needs an Idempotency-Key header: send a fresh one per write "
                         "and the same one to repeat it"))
    key = key.strip()
    if not KEY_SHAPE.fullmatch(key):
        raise BadInput(_("an Idempotency-Key is 1 to 100 letters, digits or _ . : - "
                         "characters"))
    return key


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def to_json(body: Any, *, canonical: bool = False) -> str:
    """A body as JSON (dates ISO), its keys in order as stored — an answer's order is part
    of it (the survey's questions are asked in that order) — or sorted (``canonical``) as
    compared."""
    return json.dumps(body, sort_keys=canonical, separators=(",", ":"), ensure_ascii=False,
                      default=_plain)


def request_hash(method: str, path: str, body: Any) -> str:
    """sha256 (hex) of what was asked: the method, the path and the canonical body."""
    text = "\n".join([method.upper(), path, to_json(body, canonical=True)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _stored(session: Session, actor: Actor, key: str, asked: str) -> Answer | None:
    row = session.scalars(select(IdempotencyKey).where(
        IdempotencyKey.volunteer_id == actor.id, IdempotencyKey.key == key)).first()
    if row is None:
        return None
    if row.request_hash != asked:
        raise KeyReused(_("this Idempotency-Key was used for another request; send a fresh "
                          "one"))
    return Answer(row.status, json.loads(row.answer), replay=True)


@requires(PERSON)
def once(session: Session, *, actor: Actor, key: str, method: str, path: str, body: Any,
         work: Callable[[], tuple[int, Any, bool]]) -> Answer:
    """Do ``work`` once per (person, key): the first time it runs, in this transaction, and
    its answer is stored with the key; every later request with the same key and the same
    request gets that answer without running it. ``work`` returns (status, JSON body,
    whether it wrote anything); an answer that wrote nothing is not kept.

    Refuses a missing or malformed key (BadInput) and the key of another request
    (`KeyReused`). See the module's docstring for parallel retries.
    """
    key = check_key(key)
    if actor.id is None:
        raise BadInput(_("an Idempotency-Key belongs to a person; the system has none"))
    asked = request_hash(method, path, body)
    found = _stored(session, actor, key, asked)
    if found is not None:
        return found
    claim = IdempotencyKey(volunteer_id=actor.id, key=key, request_hash=asked, status=0,
                           answer="null", created_at=_utcnow())
    try:
        with session.begin_nested():  # a savepoint: a lost race leaves the transaction usable
            session.add(claim)
            session.flush()
    except IntegrityError:
        # The same key, committed meanwhile by a parallel request (PostgreSQL waited for it).
        found = _stored(session, actor, key, asked)
        if found is None:  # not a race on the key after all
            raise
        return found
    status, answer, wrote = work()
    if not wrote:
        session.delete(claim)
        session.flush()
        return Answer(status, json.loads(to_json(answer)))
    claim.status, claim.answer = status, to_json(answer)
    session.execute(delete(IdempotencyKey).where(
        IdempotencyKey.volunteer_id == actor.id,
        IdempotencyKey.created_at < claim.created_at - dt.timedelta(days=KEEP_DAYS)))
    session.flush()
    return Answer(status, json.loads(claim.answer))


def purge(session: Session, *, now: dt.datetime | None = None) -> int:
    """Forget every key older than `KEEP_DAYS` days (the daily sweep); how many."""
    cutoff = (now or _utcnow()) - dt.timedelta(days=KEEP_DAYS)
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
    session.flush()
    return result.rowcount or 0
