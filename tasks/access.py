"""Personal access codes: who is acting.

A code looks like ``17-KXQP-4TWM-C9RD-HVZA``: the volunteer's id, then 16 characters from
an alphabet without look-alikes (about 79 bits of chance). The id lets us find the one
hash to check instead of trying every volunteer. Only a salted SHA-256 of the secret part
is stored: the secret is random and long, so a slow password hash would add start-up time
to every volunteer command without making guessing any harder.

Wrong codes are slowed down: `OUTREACH_LOGIN_DELAY` seconds (default 1), doubled for each
wrong code in a row given for the same volunteer id, up to 30 s (`login_delay`). The count
(`volunteers.failed_logins`, shown in `outreach volunteer list`) is written after the
command's own transaction has ended — a refused command rolls its transaction back, and on
SQLite a second connection cannot write while the first holds the write lock — by
`settle()`, which the CLI's edge calls on the way out. The right code sets the count back
to zero; so does a new code (`outreach volunteer new-code`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from db.errors import BadInput, Refused
from db.models import Role, Volunteer

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
GROUPS, GROUP_LEN = 4, 4


def new_secret(rng: secrets.SystemRandom | None = None) -> str:
    rng = rng or secrets.SystemRandom()
    chars = "".join(rng.choice(ALPHABET) for _ in range(GROUPS * GROUP_LEN))
    return "-".join(chars[i:i + GROUP_LEN] for i in range(0, len(chars), GROUP_LEN))


def hash_secret(secret: str, salt: str) -> str:
    return hashlib.sha256((salt + ":" + _normal(secret)).encode()).hexdigest()


def new_credentials() -> tuple[str, str, str]:
    """A fresh (secret, salt, hash); the volunteer's code is ``f"{id}-{secret}"``."""
    secret = new_secret()
    salt = secrets.token_hex(16)
    return secret, salt, hash_secret(secret, salt)


def format_code(volunteer_id: int, secret: str) -> str:
    return f"{volunteer_id}-{secret}"


def _normal(secret: str) -> str:
    return secret.replace("-", "").replace(" ", "").upper()


def parse_code(code: str) -> tuple[int, str]:
    head, _, secret = code.strip().partition("-")
    if not (code.isascii() and head.isdigit() and len(head) <= 9) or \
            len(_normal(secret)) != GROUPS * GROUP_LEN:
        raise BadInput("that is not an access code (it looks like 17-ABCD-EFGH-JKMN-PQRS)")
    return int(head), secret


@dataclass(frozen=True)
class Actor:
    """Who is acting: a volunteer or a coordinator (ids only, no contact details)."""

    id: int
    name: str
    role: str
    branch_id: int

    @property
    def is_coordinator(self) -> bool:
        return self.role == Role.COORDINATOR


#: Login counters to write once the command's transaction is over: volunteer id → +1
#: (a wrong code) or 0 (the right code after wrong ones).
_pending: dict[int, int] = {}
MAX_DELAY = 30.0


def login_delay(failed_before: int) -> float:
    """Seconds a wrong code waits, given the wrong codes in a row before it."""
    base = float(os.environ.get("OUTREACH_LOGIN_DELAY", "1"))
    return min(base * 2 ** min(failed_before, 16), max(base, MAX_DELAY))


def authenticate(session: Session, code: str | None) -> Actor:
    """The actor a code belongs to; refuses a wrong or missing code (after a delay)."""
    if not code:
        raise Refused("no access code: run `outreach login` or set OUTREACH_TOKEN")
    vid, secret = parse_code(code)
    vol = session.get(Volunteer, vid)
    if vol is None:
        time.sleep(login_delay(0))
        raise Refused("wrong access code")
    if not hmac.compare_digest(vol.code_hash, hash_secret(secret, vol.code_salt)):
        _pending[vol.id] = 1
        time.sleep(login_delay(vol.failed_logins))
        raise Refused("wrong access code")
    if vol.failed_logins:
        _pending[vol.id] = 0
    if not vol.active:
        raise Refused(f"volunteer {vol.id} is not active any more")
    return Actor(id=vol.id, name=vol.name, role=str(vol.role), branch_id=vol.branch_id)


def settle() -> None:
    """Write the pending login counters in a short transaction of their own.

    Best effort: a busy database loses one count, never the command's own result.
    """
    if not _pending:
        return
    from sqlalchemy.exc import SQLAlchemyError

    from db.session import engine, session_scope

    todo = dict(_pending)
    _pending.clear()
    try:
        with session_scope(engine()) as s:
            for vid, delta in todo.items():
                value = Volunteer.failed_logins + 1 if delta else 0
                s.execute(update(Volunteer).where(Volunteer.id == vid)
                          .values(failed_logins=value))
    except SQLAlchemyError:
        pass


def new_code(session: Session, *, volunteer: Volunteer, actor: Actor) -> str:
    """Give a volunteer a new code (the old one stops working); returns it, once."""
    require_coordinator(actor)
    secret, salt, digest = new_credentials()
    volunteer.code_salt, volunteer.code_hash, volunteer.failed_logins = salt, digest, 0
    session.flush()
    return format_code(volunteer.id, secret)


def require_coordinator(actor: Actor) -> None:
    if not actor.is_coordinator:
        raise Refused(f"only a coordinator may do this (you are volunteer {actor.id})")
