"""What the ledger service's doors share (`service.app`, the JSON API; `service.pages`, the
volunteer's pages; `service.member`, a member's own link): the database the service holds
(`Ledger`) and who calls it (`caller`, the client's address, the wrong-code `pause`), the
errors and the HTTP status each is answered with, the idempotency key of a write, and
which paths are the pages' and which language they speak. It imports none of the doors.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import Iterator, Optional

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from outreach import i18n
from outreach.db.errors import BadInput, Conflict, NotFound, NotReady, OutreachError, Refused
from outreach.db.models import LoginFailure
from outreach.db.session import session_scope
from outreach.i18n import N_, _
from outreach.tasks.access import permissions as access, idempotency

log = logging.getLogger("outreach.service")

#: Wrong codes from one address count towards its delay until it has been quiet this long.
ADDRESS_WINDOW = dt.timedelta(minutes=15)
#: Domain errors → HTTP status (first match wins: NotFound is a BadInput, Conflict a Refused).
STATUS = ((NotFound, 404), (idempotency.KeyReused, 422), (BadInput, 400), (Conflict, 409),
          (Refused, 403), (NotReady, 503), (OutreachError, 400))
BUSY = N_("the database is busy; nothing was written, try again in a moment")
#: The pages (issue 26, `service.pages`): they check their own caller — a session cookie —
#: and answer in HTML, so the `service.app.Gate` asks them for no bearer code.
PAGE_PREFIXES = ("/app", "/m")  # /m: a member's own link (`service.member`), no login
#: The language a person chose on the pages (``?lang=`` on any page), remembered a year.
LANG_COOKIE = "outreach_lang"


def page_path(path: str) -> bool:
    """Is ``path`` one of the pages' (not the JSON API's)?"""
    return any(path == p or path.startswith(p + "/") for p in PAGE_PREFIXES)


class Unauthenticated(Exception):
    """No code, a wrong one, or one of a person no longer active: answered 401."""

    def __init__(self, cause: OutreachError, delay: float = 0.0) -> None:
        super().__init__(str(cause))
        self.cause = cause
        #: Seconds to wait before answering (a wrong code), on the event loop: a flood of
        #: wrong codes must not tie up the worker threads that serve everyone else.
        self.delay = delay


async def pause(seconds: float) -> None:
    """A wrong code's wait, on the event loop (every door awaits this one, by its module:
    a test replaces it here)."""
    await asyncio.sleep(seconds)


class Failure(Exception):
    """Anything unforeseen, reduced to its class name before it can reach a log."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def language_of(header: str | None) -> str | None:
    """The language an ``Accept-Language`` header asks for, among those outreach speaks
    (``zh-CN,zh;q=0.9,en;q=0.8`` → ``zh_CN``); None when it names none of them (the
    service's own language then)."""
    best, best_q = None, 0.0
    for i, part in enumerate((header or "")[:200].split(",")[:10]):
        tag, __, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        lang = i18n.normalise(tag)
        if lang is not None and q > best_q:
            best, best_q = lang, q
    return best


class Ledger:
    """The database the service holds, and the caller's transaction on it."""

    def __init__(self, eng: Engine) -> None:
        self.engine = eng

    # --- wrong codes, per client address ------------------------------------------------------

    def address_failures(self, session: Session, address: str) -> int:
        """Wrong codes from this address in a row (within `ADDRESS_WINDOW` of the last)."""
        row = session.get(LoginFailure, address)
        if row is None or _utcnow() - row.last_at > ADDRESS_WINDOW:
            return 0
        return row.failures

    def count_address(self, address: str) -> None:
        """One more wrong code from ``address``, in a short transaction of its own (after
        the request's: on SQLite a second writer would wait for the first). Best effort."""
        for __ in range(2):  # two first failures at once: the second insert updates instead
            try:
                with session_scope(self.engine) as s:
                    now = _utcnow()
                    row = s.scalars(select(LoginFailure).where(
                        LoginFailure.address == address).with_for_update()).first()
                    if row is None:
                        s.add(LoginFailure(address=address, failures=1, last_at=now))
                    else:
                        fresh = now - row.last_at > ADDRESS_WINDOW
                        row.failures = 1 if fresh else row.failures + 1
                        row.last_at = now
                return
            except IntegrityError:
                continue
            except SQLAlchemyError:
                return

    # --- who calls, and their transaction -----------------------------------------------------

    def identify(self, address: str, code: str | None) -> access.Actor:
        """The caller's actor, in a read transaction of its own (a wrong code's wait never
        holds SQLite's write lock); a missing or wrong code raises `Unauthenticated` with
        the seconds to wait (the longer of the volunteer's and the address's delay) and is
        counted. `service.app.Gate` calls it before a byte of the request's body is read."""
        wrong = False
        try:
            with _answerable(), session_scope(self.engine, write=False) as s:
                before = self.address_failures(s, address) if code else 0
                try:
                    return access.authenticate(s, code, wait=False)
                except Refused as exc:
                    delay = 0.0
                    if code:  # a code was given and it was wrong (or its person inactive)
                        wrong = True
                        delay = max(getattr(exc, "delay", 0.0), access.login_delay(before))
                    raise Unauthenticated(exc, delay) from None
                except BadInput as exc:  # not even shaped like a code
                    raise Unauthenticated(exc) from None
        finally:
            access.settle(self.engine)
            if wrong:
                self.count_address(address)

    @contextlib.contextmanager
    def acting(self, who: access.Actor, *, write: bool = False) -> Iterator[Session]:
        """The transaction of a caller `service.app.Gate` has identified (``write``: on
        SQLite a writer's ``BEGIN IMMEDIATE``); database trouble is answered in one line."""
        with _answerable(), session_scope(self.engine, write=write) as s:
            yield s


@contextlib.contextmanager
def _answerable() -> Iterator[None]:
    """Domain errors pass (their handler answers them); a busy or unreachable database is
    a 503 and anything unforeseen a 500, both by class name only (no SQL parameters)."""
    try:
        yield
    except (OutreachError, Unauthenticated):
        raise
    except OperationalError as exc:
        text = str(exc.orig).lower()
        if "locked" in text or "busy" in text:
            raise Failure(503, _(BUSY)) from None
        log.error("database error (%s)", exc.__class__.__name__)
        raise Failure(503, _("the ledger's database cannot be reached; nothing was "
                             "written")) from None
    except Exception as exc:  # never a traceback with SQL parameters in a log
        log.error("internal error (%s)", exc.__class__.__name__)
        raise Failure(500, _("internal error ({name}); nothing more was written").format(
            name=exc.__class__.__name__)) from None


def client_address(request: Request) -> str:
    """The client's address as the server saw it (the proxy's, or with --trusted-proxy the
    one the proxy forwarded)."""
    host = request.client.host if request.client else None
    return (host or "unknown")[:64]


def idempotency_key(key: Optional[str] = Header(
        None, alias=idempotency.HEADER, description="Required on every write: a fresh key "
        "(1–100 of A-Z a-z 0-9 _ . : -) per write, the same key to repeat it; a repeat gets "
        "the first answer and changes nothing.")) -> str | None:
    """A write's ``Idempotency-Key`` header (`tasks.access.idempotency` judges it)."""
    return key


bearer = HTTPBearer(auto_error=False, description="Your personal access code.")


def caller(request: Request, credentials: Optional[HTTPAuthorizationCredentials] = Depends(
        bearer)) -> access.Actor:
    """The caller `service.app.Gate` identified from their code (the bearer scheme is
    declared here for the OpenAPI description; the code itself was checked before the body
    was read)."""
    who = request.scope.get("state", {}).get("actor")
    if who is None:  # only if the app runs without its Gate
        raise Unauthenticated(Refused(_("no access code: run `outreach login` or set "
                                        "OUTREACH_TOKEN")))
    return who
