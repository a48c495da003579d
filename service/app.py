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

import datetime as dt
from dataclasses import asdict
from typing import Optional

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.routing import Match
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from outreach import i18n
from outreach.db import migrate, settings
from outreach.db.errors import NotReady, OutreachError
from outreach.db.session import make_engine
from outreach.i18n import N_, _, pgettext
from outreach.service import common  # `common.pause` by its module: a test replaces it there
from outreach.service import member, pages
from outreach.service.common import (
    LANG_COOKIE, STATUS, Failure, Ledger, Unauthenticated, caller, client_address,
    idempotency_key, language_of, page_path)
from outreach.tasks.access import permissions as access, idempotency
from outreach.tasks.kernel.rules import parse_day

#: The HTTP errors the framework answers itself (no such path, wrong method), as said.
HTTP_WORDS = {"not found": N_("not found"), "method not allowed": N_("method not allowed")}
#: The largest request body the JSON API takes, in bytes (an outcome with a survey's answers
#: and a note is a few KiB). A route that takes no body takes none. Anything larger is
#: answered 413 before it is read (`Gate`); the reverse proxy should cap below it too.
BODY_LIMIT = 64 * 1024
#: The paths anyone may ask without a code: monitoring and the API's own description.
OPEN_PATHS = frozenset({"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})


def _one_line(text: str) -> str:
    return (text.strip().splitlines() or [pgettext("service", "refused")])[0][:500]


def _error(status: int, message: str, exit_code: int, **headers) -> JSONResponse:
    return JSONResponse({"error": _one_line(message), "exit_code": exit_code}, status_code=status,
                        headers={"Cache-Control": "no-store", **headers})


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
                who = await run_in_threadpool(self.ledger.identify,
                                              client_address(Request(scope)), code)
            except Unauthenticated as exc:
                if exc.delay > 0:
                    await common.pause(exc.delay)
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


def _answer(answer: idempotency.Answer) -> JSONResponse:
    """A write's answer (a repeat of a key: the first answer, marked as replayed)."""
    return JSONResponse(answer.body, status_code=answer.status,
                        headers={"Idempotent-Replayed": "true"} if answer.replay else None)


def _day(value: str | None) -> dt.date | None:
    return parse_day(value, "--today") if value is not None else None


def create_app(database_url: str | None = None) -> FastAPI:
    """The service for the ledger at ``database_url`` (default: OUTREACH_DATABASE_URL or
    the SQLite file under OUTREACH_HOME), resolved now: later changes of the environment
    do not move it. Refuses (NotReady) a database that is missing or not upgraded."""
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
            await common.pause(exc.delay)
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
    def me(who: access.Actor = Depends(caller)) -> dict:
        """Who the code belongs to (`outreach whoami`, `outreach login`)."""
        return {"id": who.id, "name": who.name, "role": str(who.role),
                "branch_id": who.branch_id}

    @app.get("/tasks", tags=["volunteer"])
    def tasks(who: access.Actor = Depends(caller),
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
        logged (`tasks.ledger.access_log`, door ``service``)."""
        from outreach.tasks.work.worklist import list_tasks

        with ledger.acting(who, write=contacts) as s:
            return list_tasks(s, actor=who, all_=all, branch=branch, volunteer_id=volunteer,
                              kind=kind, status=status, today=_day(today), limit=limit,
                              contacts=contacts, door="service", file_name=file)

    @app.get("/tasks/{task_id}", tags=["volunteer"])
    def task(task_id: int, who: access.Actor = Depends(caller)) -> dict:
        """What a visit needs (`outreach task show`): your own open tasks only."""
        from outreach.tasks.work.worklist import task_view

        with ledger.acting(who, write=True) as s:  # the showing is logged
            return task_view(s, task_id=task_id, actor=who, door="service")

    @app.post("/tasks/{task_id}/outcomes", tags=["volunteer"])
    def record(task_id: int, body: OutcomeIn, who: access.Actor = Depends(caller),
               key: str | None = Depends(idempotency_key)) -> dict:
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
    def release(task_id: int, who: access.Actor = Depends(caller),
                key: str | None = Depends(idempotency_key)) -> dict:
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
    member.install(app)  # a member's own link (/m/{token}, issue 26)
    return app
