"""The ledger service: an HTTP JSON API for the volunteer's commands (`outreach serve`).

It holds the database (``OUTREACH_DATABASE_URL`` or the SQLite file of the machine it runs
on); callers never do. A caller proves who they are with their access code as a bearer
token (``Authorization: Bearer 17-ABCD-…``), and every rule is checked by the same
`tasks/` functions the CLI calls on a local ledger — so a volunteer sees contact details
only for their own open tasks, whatever they send.

Wrong codes are slowed and counted twice: per volunteer (`tasks.access.permissions`, as on the command
line) and per client address (table ``login_failures``); a wrong code waits the longer of
the two `login_delay`s, awaited on the event loop (a flood of wrong codes holds no worker
thread). Nothing a caller sends changes that. The client address is the
TCP peer's, unless `outreach serve --trusted-proxy` names the reverse proxy whose
``X-Forwarded-For`` may be believed.

Errors come as ``{"error": "<one line>", "exit_code": n}`` — the line and exit code the CLI
prints for the same mistake: 401 (no code, or a wrong one), 403 (not yours, not allowed),
404 (no such task), 400/422 (bad input), 409 (changed meanwhile), 413 (body too large),
503 (database busy).

Every write (POST) needs an ``Idempotency-Key`` header (a missing one is 400): the same
key from the same person gets the first answer again, with ``Idempotent-Replayed: true``,
and nothing is done twice; the same key with another request is 422 (`tasks.access.idempotency`).
No answer and no log line carries an access code or a contact detail of someone the caller
may not see; an unforeseen error is logged and answered by its class name only.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import asdict
from typing import Iterator, Optional

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.routing import Match
from pydantic import BaseModel, Field
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from outreach import i18n
from outreach.db import migrate, settings
from outreach.db.errors import BadInput, Conflict, NotFound, NotReady, OutreachError, Refused
from outreach.db.models import LoginFailure
from outreach.db.session import make_engine, session_scope
from outreach.i18n import N_, _, pgettext
from outreach.tasks.access import permissions as access, idempotency
from outreach.tasks.kernel.rules import parse_day

log = logging.getLogger("outreach.service")

#: Wrong codes from one address count towards its delay until it has been quiet this long.
ADDRESS_WINDOW = dt.timedelta(minutes=15)
#: Domain errors → HTTP status (first match wins: NotFound is a BadInput, Conflict a Refused).
STATUS = ((NotFound, 404), (idempotency.KeyReused, 422), (BadInput, 400), (Conflict, 409),
          (Refused, 403), (NotReady, 503), (OutreachError, 400))
BUSY = N_("the database is busy; nothing was written, try again in a moment")
#: The HTTP errors the framework answers itself (no such path, wrong method), as said.
HTTP_WORDS = {"not found": N_("not found"), "method not allowed": N_("method not allowed")}
#: The largest request body the JSON API takes, in bytes (an outcome with a survey's answers
#: and a note is a few KiB). A route that takes no body takes none. Anything larger is
#: answered 413 before it is read (`Gate`); the reverse proxy should cap below it too.
BODY_LIMIT = 64 * 1024
#: The paths anyone may ask without a code: monitoring and the API's own description.
OPEN_PATHS = frozenset({"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
#: The pages (issue 26, `service.pages`): they check their own caller — a session cookie —
#: and answer in HTML, so the Gate asks them for no bearer code.
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


async def _pause(seconds: float) -> None:
    await asyncio.sleep(seconds)


class Failure(Exception):
    """Anything unforeseen, reduced to its class name before it can reach a log."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _one_line(text: str) -> str:
    return (text.strip().splitlines() or [pgettext("service", "refused")])[0][:500]


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


def _error(status: int, message: str, exit_code: int, **headers) -> JSONResponse:
    return JSONResponse({"error": _one_line(message), "exit_code": exit_code}, status_code=status,
                        headers={"Cache-Control": "no-store", **headers})


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
        counted. `Gate` calls it before a byte of the request's body is read."""
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
        """The transaction of a caller `Gate` has identified (``write``: on SQLite a
        writer's ``BEGIN IMMEDIATE``); database trouble is answered in one line."""
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


class _TooLarge(Exception):
    """A body grew past its route's limit while it was read."""


class Gate:
    """What a request may send is settled before a byte of its body is read (a pure ASGI
    middleware, inside the language middleware so that its lines are translated).

    - A route that takes no body refuses any (``Content-Length`` > 0 or chunked), one that
      takes one refuses a ``Content-Length`` over `BODY_LIMIT`: 413, body unread.
    - Every path but `OPEN_PATHS` needs a code, checked here (`Ledger.identify`): a missing
      or wrong one is 401 — a wrong one after its wait, awaited on the event loop, so a
      flood of them holds no worker thread — and the body is never read.
    - A chunked body is counted while the app reads it and cut at the limit: 413.
    - Paths and methods the app does not serve pass on (404 / 405, nothing read).
    A request refused with its body unread is answered ``Connection: close``.
    """

    def __init__(self, app, ledger: Ledger) -> None:
        self.app, self.ledger = app, ledger

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        route = next((r for r in scope["app"].routes if r.matches(scope)[0] == Match.FULL),
                     None)
        if route is None:
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        limit = BODY_LIMIT if getattr(route, "body_field", None) is not None else 0
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:  # the server refuses such a request before it gets here
            length = 0
        pending = chunked or length > 0
        close = {"Connection": "close"} if pending else {}
        if length > limit or (chunked and not limit):
            return await _too_large(limit)(scope, receive, send)
        if route.path not in OPEN_PATHS and not page_path(route.path):
            scheme, credentials = get_authorization_scheme_param(headers.get("authorization"))
            code = credentials.strip() if scheme.lower() == "bearer" and credentials else None
            try:
                who = await run_in_threadpool(self.ledger.identify, _address(Request(scope)),
                                              code)
            except Unauthenticated as exc:
                if exc.delay > 0:
                    await _pause(exc.delay)
                return await _error(401, str(exc.cause), exc.cause.exit_code,
                                    **{"WWW-Authenticate": "Bearer"}, **close)(
                    scope, receive, send)
            except Failure as exc:
                return await _error(exc.status, str(exc), 1, **close)(scope, receive, send)
            scope.setdefault("state", {})["actor"] = who
        if not pending:
            return await self.app(scope, receive, send)
        received, over, started = 0, False, False

        async def counted():
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not over:
                    over = True
                    if not started:
                        await _too_large(limit)(scope, receive, send)
                    raise _TooLarge
            return message

        async def sending(message) -> None:
            nonlocal started
            if over:  # the app's answer to a body cut short: the 413 is already sent
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except _TooLarge:
            pass


def _too_large(limit: int) -> JSONResponse:
    if not limit:
        message = _("this request takes no body")
    else:
        message = _("the request is too large: at most {kib} KiB").format(kib=limit // 1024)
    return _error(413, message, 2, Connection="close")


def server_options(trusted_proxies: list[str] | None = None) -> dict:
    """uvicorn's settings for the service: ``X-Forwarded-For`` is believed only when it
    comes from one of ``trusted_proxies`` (none by default), so that no client can pick
    the address its wrong codes are counted under."""
    trusted = list(trusted_proxies or [])
    return {"proxy_headers": bool(trusted),
            "forwarded_allow_ips": ",".join(trusted) if trusted else None,
            "server_header": False}


def _address(request: Request) -> str:
    """The client's address as the server saw it (the proxy's, or with --trusted-proxy the
    one the proxy forwarded)."""
    host = request.client.host if request.client else None
    return (host or "unknown")[:64]


# --- what callers send --------------------------------------------------------------------


class OutcomeIn(BaseModel):
    """An outcome to record on one of your tasks."""

    outcome: Optional[str] = Field(None, description="reached, no_answer, delivered, moved … "
                                   "(empty: the kind's success, as `task done`).")
    note: Optional[str] = Field(None, description="A short note for the next visit.")
    answers: dict[str, str] = Field(default_factory=dict,
                                    description="Survey answers, key → value.")
    today: Optional[str] = Field(None, description="Date of the visit (YYYY-MM-DD).")
    ask: bool = Field(False, description="When a survey still needs answers: record nothing "
                      "and return the questions (with the values on record) instead.")
    seen_attempts: Optional[int] = Field(None, ge=0, le=1000, description="The task's "
                                         "attempt count as you last saw it: any other count "
                                         "means someone recorded meanwhile (409).")


def _key(key: Optional[str] = Header(
        None, alias=idempotency.HEADER, description="Required on every write: a fresh key "
        "(1–100 of A-Z a-z 0-9 _ . : -) per write, the same key to repeat it; a repeat gets "
        "the first answer and changes nothing.")) -> str | None:
    return key


def _answer(answer: idempotency.Answer) -> JSONResponse:
    """A write's answer (a repeat of a key: the first answer, marked as replayed)."""
    return JSONResponse(answer.body, status_code=answer.status,
                        headers={"Idempotent-Replayed": "true"} if answer.replay else None)


bearer = HTTPBearer(auto_error=False, description="Your personal access code.")


def _caller(request: Request, credentials: Optional[HTTPAuthorizationCredentials] = Depends(
        bearer)) -> access.Actor:
    """The caller `Gate` identified from their code (the bearer scheme is declared here for
    the OpenAPI description; the code itself was checked before the body was read)."""
    who = request.scope.get("state", {}).get("actor")
    if who is None:  # only if the app runs without its Gate
        raise Unauthenticated(Refused(_("no access code: run `outreach login` or set "
                                        "OUTREACH_TOKEN")))
    return who


def _day(value: str | None) -> dt.date | None:
    return parse_day(value, "--today") if value is not None else None


def create_app(database_url: str | None = None) -> FastAPI:
    """The service for the ledger at ``database_url`` (default: OUTREACH_DATABASE_URL or
    the SQLite file under OUTREACH_HOME), resolved now: later changes of the environment
    do not move it. Refuses (NotReady) a database that is missing or not upgraded."""
    from outreach.service import pages  # (it builds on this module)

    eng = make_engine(database_url or settings.database_url())
    migrate.require_current(eng)
    ledger = Ledger(eng)
    app = FastAPI(title="outreach ledger service", version="1",
                  description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    app.state.ledger = ledger
    # Added first, so it runs inside the language middleware below (its lines translated).
    app.add_middleware(Gate, ledger=ledger)

    @app.middleware("http")
    async def _no_store(request: Request, call_next):
        # The caller's language (`cli.remote` sends the volunteer's) for every line of
        # this request: a context variable, so each request has its own.
        # On the pages a person may choose (``?lang=zh_CN`` / ``?lang=en``, remembered in a
        # cookie), which goes before what the browser asks for.
        chosen = i18n.normalise(request.query_params.get("lang"))
        asked = chosen or i18n.normalise(request.cookies.get(LANG_COOKIE)) or \
            language_of(request.headers.get("accept-language"))
        with i18n.language(asked) as lang:
            response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("Content-Language", lang.replace("_", "-"))
        if chosen:
            response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400, path="/",
                                samesite="lax", secure=request.url.scheme == "https")
        return response

    @app.exception_handler(OutreachError)
    async def _domain(request: Request, exc: OutreachError):
        status = next(code for cls, code in STATUS if isinstance(exc, cls))
        if page_path(request.url.path):
            return pages.problem(request, status, str(exc))
        return _error(status, str(exc), exc.exit_code)

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(request: Request, exc: Unauthenticated):
        if exc.delay > 0:
            await _pause(exc.delay)
        return _error(401, str(exc.cause), exc.cause.exit_code,
                      **{"WWW-Authenticate": "Bearer"})

    @app.exception_handler(Failure)
    async def _failure(request: Request, exc: Failure):
        if page_path(request.url.path):
            return pages.problem(request, exc.status, str(exc))
        return _error(exc.status, str(exc), 1)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        first = (exc.errors() or [{}])[0]  # the place and the rule, never the value sent
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
        if page_path(request.url.path):
            return pages.problem(request, 422, _("bad request: {where}: {problem}").format(
                where=where or _("input"), problem=first.get("msg", _("invalid"))))
        return _error(422, _("bad request: {where}: {problem}").format(
            where=where or _("input"), problem=first.get("msg", _("invalid"))), 2)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        text = str(exc.detail).lower()
        if page_path(request.url.path):
            return pages.problem(request, exc.status_code,
                                 _(HTTP_WORDS[text]) if text in HTTP_WORDS else text)
        return _error(exc.status_code, _(HTTP_WORDS[text]) if text in HTTP_WORDS else text,
                      2 if exc.status_code < 500 else 1, **(exc.headers or {}))

    @app.get("/health", tags=["service"])
    def health() -> dict:
        """Whether the service and its database answer (no code needed, nothing private)."""
        try:
            migrate.require_current(eng)
        except (NotReady, SQLAlchemyError):
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return {"status": "ok"}

    @app.get("/me", tags=["volunteer"])
    def me(who: access.Actor = Depends(_caller)) -> dict:
        """Who the code belongs to (`outreach whoami`, `outreach login`)."""
        return {"id": who.id, "name": who.name, "role": str(who.role),
                "branch_id": who.branch_id}

    @app.get("/tasks", tags=["volunteer"])
    def tasks(who: access.Actor = Depends(_caller),
              all: bool = Query(False, description="Everyone's tasks (coordinators)."),
              branch: Optional[str] = Query(None, description="Only this branch "
                                            "(coordinators)."),
              volunteer: Optional[int] = Query(None, description="Only this volunteer's "
                                               "(coordinators)."),
              kind: Optional[str] = None, status: Optional[str] = None,
              today: Optional[str] = Query(None, description="Date for 'overdue'."),
              limit: Optional[int] = Query(None, ge=1, le=1_000_000),
              contacts: bool = Query(False, description="With phone and address (the run "
                                     "sheet): your open tasks only."),
              file: Optional[str] = Query(None, max_length=255, description="With contacts: "
                                          "the name of the file the sheet goes to (for the "
                                          "access log).")) -> list[dict]:
        """Your open tasks by due date (`outreach tasks`); with contacts the showing is
        logged (`tasks.access.log`, door ``service``)."""
        from outreach.tasks.work.worklist import list_tasks

        with ledger.acting(who, write=contacts) as s:
            return list_tasks(s, actor=who, all_=all, branch=branch, volunteer_id=volunteer,
                              kind=kind, status=status, today=_day(today), limit=limit,
                              contacts=contacts, door="service", file_name=file)

    @app.get("/tasks/{task_id}", tags=["volunteer"])
    def task(task_id: int, who: access.Actor = Depends(_caller)) -> dict:
        """What a visit needs (`outreach task show`): your own open tasks only."""
        from outreach.tasks.work.worklist import task_view

        with ledger.acting(who, write=True) as s:  # the showing is logged
            return task_view(s, task_id=task_id, actor=who, door="service")

    @app.post("/tasks/{task_id}/outcomes", tags=["volunteer"])
    def record(task_id: int, body: OutcomeIn, who: access.Actor = Depends(_caller),
               key: str | None = Depends(_key)) -> dict:
        """Record what happened (`outreach task record`, `task done`): ``{"recorded": …}``,
        or with ``ask`` and a survey still missing answers ``{"form": …}`` (nothing
        written; the questions, and the values on record for your own open task).
        Needs an ``Idempotency-Key``; 409 when someone else has just recorded on the
        task."""
        from outreach.tasks.work.outcomes import record_outcome
        from outreach.tasks.work.worklist import AnswerForm, record_or_ask

        day = _day(body.today)
        with ledger.acting(who, write=True) as s:
            def work() -> tuple[int, dict, bool]:
                if body.ask or body.outcome is None:
                    res = record_or_ask(s, task_id=task_id, outcome=body.outcome, actor=who,
                                        note=body.note, answers=body.answers, today=day,
                                        seen_attempts=body.seen_attempts, door="service")
                    if isinstance(res, AnswerForm):
                        if not body.ask:  # a survey's answers are missing: say which
                            record_outcome(s, task_id=task_id, outcome=res.outcome,
                                           actor=who, note=body.note, answers=body.answers,
                                           today=day)
                        return 200, {"form": asdict(res)}, False
                else:
                    res = record_outcome(s, task_id=task_id, outcome=body.outcome, actor=who,
                                         note=body.note, answers=body.answers, today=day,
                                         seen_attempts=body.seen_attempts)
                return 200, {"recorded": asdict(res)}, True

            answer = idempotency.once(s, actor=who, key=key, method="POST",
                                      path=f"/tasks/{task_id}/outcomes",
                                      body=body.model_dump(), work=work)
        return _answer(answer)

    @app.post("/tasks/{task_id}/release", tags=["volunteer"])
    def release(task_id: int, who: access.Actor = Depends(_caller),
                key: str | None = Depends(_key)) -> dict:
        """Hand one of your tasks back (`outreach task release`): it is open again.
        Needs an ``Idempotency-Key``."""
        from outreach.tasks.work.outcomes import release

        with ledger.acting(who, write=True) as s:
            def work() -> tuple[int, dict, bool]:
                t = release(s, task_id=task_id, actor=who)
                return 200, {"task_id": t.id, "status": str(t.status)}, True

            answer = idempotency.once(s, actor=who, key=key, method="POST",
                                      path=f"/tasks/{task_id}/release", body=None, work=work)
        return _answer(answer)

    pages.install(app)
    from outreach.service import member  # a member's own link (/m/{token}, issue 26)

    member.install(app)
    return app
