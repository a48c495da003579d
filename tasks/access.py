"""Personal access codes: who is acting.

A code looks like ``17-KXQP-4TWM-C9RD-HVZA``: the volunteer's id, then 16 characters from
an alphabet without look-alikes (about 79 bits of chance). The id lets us find the one
hash to check instead of trying every volunteer. Only a salted SHA-256 of the secret part
is stored: the secret is random and long, so a slow password hash would add start-up time
to every volunteer command without making guessing any harder. Wrong codes are slowed
down (`OUTREACH_LOGIN_DELAY`, seconds, default 1).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass

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
    if not head.isdigit() or len(_normal(secret)) != GROUPS * GROUP_LEN:
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


def _slow_down() -> None:
    time.sleep(float(os.environ.get("OUTREACH_LOGIN_DELAY", "1")))


def authenticate(session: Session, code: str | None) -> Actor:
    """The actor a code belongs to; refuses a wrong or missing code (after a delay)."""
    if not code:
        raise Refused("no access code: run `outreach login` or set OUTREACH_TOKEN")
    vid, secret = parse_code(code)
    vol = session.get(Volunteer, vid)
    if vol is None or not hmac.compare_digest(vol.code_hash, hash_secret(secret, vol.code_salt)):
        _slow_down()
        raise Refused("wrong access code")
    if not vol.active:
        raise Refused(f"volunteer {vol.id} is not active any more")
    return Actor(id=vol.id, name=vol.name, role=str(vol.role), branch_id=vol.branch_id)


def require_coordinator(actor: Actor) -> None:
    if not actor.is_coordinator:
        raise Refused(f"only a coordinator may do this (you are volunteer {actor.id})")
