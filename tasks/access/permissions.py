"""Personal access codes: who is acting.

A code looks like ``17-KXQP-4TWM-C9RD-HVZA``: the volunteer's id, then 16 characters from
an alphabet without look-alikes (about 79 bits of chance). The id lets us find the one
hash to check instead of trying every volunteer. Only a salted SHA-256 of the secret part
is stored: the secret is random and long, so a slow password hash would add start-up time
to every volunteer command without making guessing any harder.

Wrong codes are slowed down: `BASE_DELAY` seconds (1), doubled for each wrong code in a
row given for the same volunteer id, up to 30 s (`login_delay`). Nobody who calls outreach
can change that (no setting; tests change the module constant); the ledger service applies
the same `login_delay` per client address too. The count (`volunteers.failed_logins`,
shown in `outreach volunteer list`) is written after the command's own transaction has
ended — a refused command rolls its transaction back, and on SQLite a second connection
cannot write while the first holds the write lock — by `settle()`, which the CLI's edge
calls on the way out. The right code sets the count back to zero; so does a new code
(`outreach volunteer new-code`).

Who may do what lives here too, with the work: an `Actor` is built only by `authenticate`
(or is `SYSTEM`, the scheduled flows' actor), and every service function of `tasks/` that
shows contact details or changes the ledger declares its rule with `@requires(...)`, which
checks the actor before the function runs. `RULES` lists them all;
tests/tasks/test_permissions.py walks `tasks/` and proves each one refuses the wrong actor.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import inspect
import secrets
import time
from dataclasses import InitVar, dataclass
from typing import Callable, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from outreach.db.errors import BadInput, NotFound, Refused
from outreach.db.models import OutreachTask, Role, Volunteer
from outreach.i18n import N_, _

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
GROUPS, GROUP_LEN = 4, 4


def new_secret(rng: secrets.SystemRandom | None = None) -> str:
    rng = rng or secrets.SystemRandom()
    chars = "".join(rng.choice(ALPHABET) for __ in range(GROUPS * GROUP_LEN))
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
    head, __, secret = code.strip().partition("-")
    if not (code.isascii() and head.isdigit() and len(head) <= 9) or \
            len(_normal(secret)) != GROUPS * GROUP_LEN:
        raise BadInput(_("that is not an access code (it looks like "
                         "17-ABCD-EFGH-JKMN-PQRS)"))
    return int(head), secret


#: Only this module holds it: an `Actor` built anywhere else is refused at construction.
_KEY = object()
#: The scheduled flows' role: no person, no code.
SYSTEM_ROLE = "system"


@dataclass(frozen=True)
class Actor:
    """Who is acting: a volunteer, a coordinator, or `SYSTEM` (ids only, no contact
    details). Only `authenticate` builds one for a person; `dataclasses.replace` and a
    direct ``Actor(...)`` are refused."""

    id: int | None
    name: str
    role: str
    branch_id: int | None
    key: InitVar[object] = None

    def __post_init__(self, key: object) -> None:
        if key is not _KEY:
            raise TypeError("an Actor comes from tasks.access.permissions.authenticate (or is "
                            "tasks.access.permissions.SYSTEM), it is not built by hand")

    @property
    def is_coordinator(self) -> bool:
        return self.role == Role.COORDINATOR

    @property
    def is_system(self) -> bool:
        return self.role == SYSTEM_ROLE

    def __str__(self) -> str:
        return "the system" if self.is_system else f"{self.role} {self.id}"


#: The actor of scheduled flows (follow-up, campaigns, the weekly report): it may run
#: set-based jobs and count-only reports, never see contact details or take a person's
#: decision (confirm a death, reactivate a member, reassign …). History shows it as
#: "system" (no volunteer id).
SYSTEM = Actor(id=None, name="system", role=SYSTEM_ROLE, branch_id=None, key=_KEY)


#: Login counters to write once the command's transaction is over: volunteer id → +1
#: (a wrong code) or 0 (the right code after wrong ones).
_pending: dict[int, int] = {}
#: Seconds the first wrong code waits; doubled per wrong code in a row, `MAX_DELAY` at
#: most. A module constant on purpose: no caller can switch the slow-down off (tests
#: monkeypatch it).
BASE_DELAY = 1.0
MAX_DELAY = 30.0


def login_delay(failed_before: int) -> float:
    """Seconds a wrong code waits, given the wrong codes in a row before it (for one
    volunteer id, or — in the ledger service — for one client address)."""
    base = BASE_DELAY
    return min(base * 2 ** min(max(int(failed_before), 0), 16), max(base, MAX_DELAY))


def authenticate(session: Session, code: str | None, *, wait: bool = True) -> Actor:
    """The actor a code belongs to; refuses a wrong or missing code (after a delay).

    ``wait=False`` (the ledger service): the wrong code is refused at once and the
    `Refused` carries the seconds to wait as ``delay``; the service waits them without
    holding a worker thread.
    """
    if not code:
        raise Refused(_("no access code: run `outreach login` or set OUTREACH_TOKEN"))
    vid, secret = parse_code(code)
    vol = session.get(Volunteer, vid)
    if vol is None:
        _wrong(login_delay(0), wait)
    if not hmac.compare_digest(vol.code_hash, hash_secret(secret, vol.code_salt)):
        _pending[vol.id] = 1
        _wrong(login_delay(vol.failed_logins), wait)
    if vol.failed_logins:
        _pending[vol.id] = 0
    if not vol.active:
        raise Refused(_("volunteer {id} is not active any more").format(id=vol.id))
    return Actor(id=vol.id, name=vol.name, role=str(vol.role), branch_id=vol.branch_id,
                 key=_KEY)


def code_stamp(volunteer: Volunteer) -> str:
    """A stamp of the volunteer's current access code: a hash of its stored hash, so that
    what is made from it (a run ticket) stops when the code changes, and yields nothing
    of the code."""
    return hashlib.sha256(b"outreach-code-stamp\0" + volunteer.code_hash.encode()).hexdigest()


def acting_for(session: Session, volunteer_id: int, *, stamp: str) -> Actor:
    """The actor a run ticket stands for (`tasks.access.tickets`): the volunteer must still be
    active and hold the code the ticket was made with (``stamp``, `code_stamp`)."""
    vol = session.get(Volunteer, volunteer_id)
    if vol is None or not hmac.compare_digest(code_stamp(vol), stamp):
        raise Refused(_("the access code that made this run ticket has changed: ask for a "
                        "new ticket"))
    if not vol.active:
        raise Refused(_("volunteer {id} is not active any more").format(id=vol.id))
    return Actor(id=vol.id, name=vol.name, role=str(vol.role), branch_id=vol.branch_id,
                 key=_KEY)


def _wrong(delay: float, wait: bool) -> None:
    """Refuse a wrong code, after ``delay`` seconds or (``wait=False``) telling them."""
    if wait:
        time.sleep(delay)
    refused = Refused(_("wrong access code"))
    refused.delay = 0.0 if wait else delay
    raise refused


def settle(eng=None) -> None:
    """Write the pending login counters in a short transaction of their own (on ``eng``,
    default the process's database; the ledger service passes the one it serves).

    Best effort: a busy database loses one count, never the command's own result.
    """
    if not _pending:
        return
    from sqlalchemy.exc import SQLAlchemyError

    from outreach.db.session import engine, session_scope

    todo = dict(_pending)
    _pending.clear()
    try:
        with session_scope(eng or engine()) as s:
            for vid, delta in todo.items():
                value = Volunteer.failed_logins + 1 if delta else 0
                s.execute(update(Volunteer).where(Volunteer.id == vid)
                          .values(failed_logins=value))
    except SQLAlchemyError:
        pass


# --- the rules ------------------------------------------------------------------------------

#: A coordinator (a person): ledger changes, contact details of anyone, a person's decisions.
COORDINATOR = "coordinator"
#: The task's volunteer or a coordinator (needs ``task_id``); never the system.
HOLDER = "holder"
#: Any person with a code; the function narrows what they see (their own tasks).
PERSON = "person"
#: A coordinator or the system: set-based jobs and reports of counts (no contact details).
COUNTS = "coordinator or system"
#: A coordinator — or nobody while the ledger has no coordinator yet (the first one).
BOOTSTRAP = "coordinator, or nobody before the first coordinator"
ALL_RULES = (COORDINATOR, HOLDER, PERSON, COUNTS, BOOTSTRAP)

NO_COORDINATOR_YET = N_("there is no coordinator yet: create one first with "
                         "`outreach volunteer add NAME --branch BRANCH --coordinator`")
NEEDS_COORDINATOR_CODE = N_("this needs a coordinator's access code: run `outreach login` "
                            "or set OUTREACH_TOKEN")

#: Every guarded service function: "module.name" → its rule (filled by `requires`).
RULES: dict[str, str] = {}

F = TypeVar("F", bound=Callable)


def coordinator_exists(session: Session) -> bool:
    """Whether the ledger has a coordinator at all (active or not)."""
    return session.scalar(select(func.count()).select_from(Volunteer)
                          .where(Volunteer.role == Role.COORDINATOR)) > 0


def require_coordinator(actor: Actor) -> None:
    """A coordinator, as a person: the system and volunteers are refused."""
    if not isinstance(actor, Actor):
        raise Refused(_(NEEDS_COORDINATOR_CODE))
    if actor.is_system:
        raise Refused(_("a scheduled job may not do this: it needs a coordinator"))
    if not actor.is_coordinator:
        raise _only_coordinators(actor)


def _only_coordinators(actor: Actor) -> Refused:
    return Refused(_("only a coordinator may do this (you are volunteer {id})").format(
        id=actor.id))


def check(rule: str, actor: Actor | None, *, session: Session | None = None,
          task_id: int | None = None) -> None:
    """Refuse ``actor`` unless ``rule`` lets them; see the rule constants above."""
    if actor is None:
        if session is not None and not coordinator_exists(session):
            if rule == BOOTSTRAP:
                return
            raise Refused(_(NO_COORDINATOR_YET))
        if rule in (COORDINATOR, BOOTSTRAP, COUNTS):
            raise Refused(_(NEEDS_COORDINATOR_CODE))
    if not isinstance(actor, Actor):
        raise Refused(_("this needs an access code: run `outreach login` or set "
                        "OUTREACH_TOKEN"))
    if rule in (COORDINATOR, BOOTSTRAP):
        require_coordinator(actor)
    elif rule == COUNTS:
        if not (actor.is_coordinator or actor.is_system):
            raise _only_coordinators(actor)
    elif rule in (PERSON, HOLDER):
        if actor.is_system:
            raise Refused(_("a scheduled job may not do this: it is a person's to do"))
        if rule == HOLDER and not actor.is_coordinator:
            task = (session.get(OutreachTask, task_id)
                    if session is not None and isinstance(task_id, int)
                    and 0 < task_id < 2**31 else None)
            if task is None:
                raise NotFound(_("no task with id {id}").format(id=task_id))
            if task.volunteer_id != actor.id:
                raise Refused(_("task {id} is not yours").format(id=task.id))
    else:
        raise ValueError(f"unknown access rule {rule!r}")


def requires(rule: str) -> Callable[[F], F]:
    """Declare (and enforce, before anything else runs) who may call a service function.

    The function takes ``actor`` (and ``session``; ``task_id`` for `HOLDER`) by keyword.
    """
    if rule not in ALL_RULES:
        raise ValueError(f"unknown access rule {rule!r}")

    def wrap(fn: F) -> F:
        sig = inspect.signature(fn)
        if "actor" not in sig.parameters:
            raise TypeError(f"{fn.__qualname__} is guarded but takes no actor")

        @functools.wraps(fn)
        def gate(*args, **kwargs):
            given = sig.bind_partial(*args, **kwargs).arguments
            check(rule, given.get("actor"), session=given.get("session"),
                  task_id=given.get("task_id"))
            return fn(*args, **kwargs)

        gate.__rule__ = rule  # type: ignore[attr-defined]
        RULES[f"{fn.__module__}.{fn.__qualname__}"] = rule
        return gate  # type: ignore[return-value]

    return wrap


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@requires(COORDINATOR)
def new_code(session: Session, *, volunteer: Volunteer, actor: Actor) -> str:
    """Give a volunteer a new code (the old one stops working); returns it, once.

    A coordinator's new code from someone else counts as becoming a coordinator anew
    (`coordinator_since`): whoever holds the new code, the issuer knows it too, so it
    cannot be the second person of the two-person rule for a death recorded before.
    """
    secret, salt, digest = new_credentials()
    volunteer.code_salt, volunteer.code_hash, volunteer.failed_logins = salt, digest, 0
    if volunteer.role == Role.COORDINATOR and volunteer.id != actor.id:
        volunteer.coordinator_since = _utcnow()
    session.flush()
    return format_code(volunteer.id, secret)
