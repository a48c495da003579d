"""The volunteer's pages on the phone (``/app/``, issue 26): server-rendered HTML of the
ledger service, from the same `tasks/` functions as the JSON API and the CLI.

- ``/app/login`` takes the access code (`Ledger.identify`: the same check, the same
  wrong-code slow-down per volunteer and per client address as the API) and gives a session
  cookie (`tasks.access.sessions`: HttpOnly, SameSite=Strict, Secure when the request came over
  https — directly or through the trusted proxy — 30 days idle at most); ``/app/logout``
  ends it.
- ``/app/`` lists the volunteer's open tasks (`tasks.work.worklist.list_tasks`), overdue first;
  ``/app/tasks/{id}`` is the card (`task_view`, its showing logged through door ``app``)
  with the outcomes of the task's kind, the survey's answers where the done outcome takes
  them, and "hand it back"; the forms post to ``…/record`` (`record_or_ask`) and
  ``…/release`` (`tasks.work.outcomes.release`) through `tasks.access.idempotency.once` with the key
  the page put in the form when it was rendered, and the attempts the card showed
  (``seen_attempts``: someone who recorded meanwhile makes it a conflict, said on the card).
- Every form is protected from other sites: the session cookie is SameSite=Strict, every
  POST must come from this origin (``Origin``, or ``Referer`` when a browser sends none),
  and a logged-in form carries a token derived from the session (``csrf``).
- No session, a wrong or stale one, or another person's: every page sends to the login
  (a form's POST too: nothing is done); another volunteer's task is refused as by the API.

The words come from the same catalog (``_()`` in the templates, `tasks.kernel.labels` for codes),
in the language the ``?lang=`` switch or ``Accept-Language`` chose (`service.app`). The
pages work without scripting; ``static/app.js`` adds the offline queue and the answers'
checks as they are typed (``/app/check``, the server's own rule).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from outreach import i18n
from outreach.db.errors import NotFound, OutreachError, Refused
from outreach.db.models import Residence
from outreach.i18n import N_, _, ngettext, pgettext
from outreach.service import common
from outreach.tasks.access import sessions as app_sessions
from outreach.tasks.access import idempotency
from outreach.tasks.kernel import labels as codes
from outreach.tasks.work import rules
from outreach.tasks.ledger.access_log import APP
from outreach.tasks.links.member_links import DAYS as LINK_DAYS
from outreach.tasks.links.member_links import task_link_once
from outreach.tasks.work.outcomes import release as release_task
from outreach.tasks.work.worklist import AnswerForm, list_tasks, record_or_ask, task_view

HERE = Path(__file__).parent
STATIC = HERE / "static"
#: The session cookie (its value: `tasks.access.sessions.start`), sent to /app/ only.
COOKIE = "outreach_app"
#: The languages of the switch: code, name in itself, HTML tag.
LANGUAGES = (("zh_CN", "中文", "zh-CN"), ("en", "English", "en"))
#: Answer fields whose values are a few codes: shown as radio buttons (the codes are the
#: rules'; `tasks.work.rules.check_answer` still judges what comes back).
CHOICES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "residence": tuple((r.value, "residence", r.value) for r in (Residence.LOCAL,
                                                                  Residence.AWAY)),
    "homebound": (("yes", "", N_("yes")), ("no", "", N_("no"))),
    "moved_out": (("yes", "", N_("yes")), ("no", "", N_("no"))),
    "attendance": tuple((v, "attendance", v) for v in rules.NOTICE_ATTENDANCE),
}
#: An answer field's label (its key's word; `tasks.work.rules.answer_help` is its hint).
FIELD_LABELS = {
    "phone": N_("phone"), "address": N_("address"), "residence": N_("residence"),
    "homebound": N_("homebound"), "family_contact_name": N_("family contact"),
    "family_contact_phone": N_("family contact's phone"), "needs": N_("needs"),
    "interests": N_("interests"), "moved_out": N_("moved out"),
    "attendance": N_("attendance"), "reason": N_("reason"),
}
#: A card's yes / no values as people read them.
YES_NO = {"yes": N_("yes"), "no": N_("no")}
#: Tasks on one page of the list (a page stays far below 60 KB however many a person holds).
PAGE_SIZE = 40
#: Phone-number answers: a telephone keyboard.
PHONE_FIELDS = {"phone", "family_contact_phone"}
#: Security headers of every page: nothing from elsewhere, no framing, no inline script.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
_TEL = re.compile(r"[^0-9+*#]")
_ANSWER = "a_"


class Static(StaticFiles):
    """The pages' own few files; cached a day (each page names them with their hash)."""

    def file_response(self, *args, **kwargs) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response


_VERSIONS: dict[str, str] = {}


def static(name: str) -> str:
    """A static file's address, with its content's hash (a changed file is fetched anew)."""
    if name not in _VERSIONS:
        _VERSIONS[name] = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]
    return f"/app/static/{name}?v={_VERSIONS[name]}"


def _tel(phone: str | None) -> str:
    return _TEL.sub("", phone or "")


def word(code: str | None, of: str) -> str:
    """A code's name as people read it (`tasks.kernel.labels`: the CLI's Chinese; in English the
    name, not the code — nobody types it here)."""
    if code is None:
        return ""
    name = codes.DOMAINS[of].get(str(code))
    return _(name) if name else str(code)


templates = Jinja2Templates(directory=HERE / "templates")
templates.env.add_extension("jinja2.ext.i18n")
templates.env.install_gettext_callables(  # the current request's language, at render time
    gettext=lambda message: _(message), ngettext=lambda s, p, n: ngettext(s, p, n),
    newstyle=False)
templates.env.filters["tel"] = _tel
templates.env.globals.update(static=static, word=word, languages=LANGUAGES)


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page in the request's language; ``here`` is its address without the query (the
    language switch adds ``?lang=`` to it)."""
    lang = i18n.current()
    context.setdefault("here", request.url.path)
    context.setdefault("who", None)
    context.setdefault("csrf", None)
    context.setdefault("problems", [])
    response = templates.TemplateResponse(
        request, name, {"lang": lang, "html_lang": lang.replace("_", "-"), **context},
        status_code=status)
    response.headers.update(PAGE_HEADERS)
    return response


# --- who is asking ----------------------------------------------------------------------------


def _ledger(request: Request) -> common.Ledger:
    return request.app.state.ledger


def _visit(request: Request) -> app_sessions.Visit | None:
    """The session the cookie stands for (None: no cookie, a wrong or ended one); its use
    noted at most hourly, in a short write of its own."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    ledger = _ledger(request)
    with ledger.acting(None) as s:
        try:
            visit = app_sessions.check(s, token)
        except Refused:
            return None
    if visit.due:
        with ledger.acting(visit.actor, write=True) as s:
            app_sessions.touch(s, actor=visit.actor, session_id=visit.session_id)
    return visit


def form_token(request: Request) -> str:
    """The token a logged-in form carries: derived from the session cookie, so another
    site can neither read nor make it."""
    cookie = request.cookies.get(COOKIE, "")
    return hmac.new(b"outreach-app-form", cookie.encode(), hashlib.sha256).hexdigest()[:32]


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


def same_origin(request: Request) -> bool:
    """The POST comes from a page of this service: its ``Origin`` (or, when a browser sends
    none, its ``Referer``) is this service's own address (behind the trusted proxy: the
    scheme it forwarded)."""
    own = _own_origin(request)
    origin = request.headers.get("origin")
    if origin is not None:
        return origin == own
    referer = request.headers.get("referer")
    return referer is not None and (referer == own or referer.startswith(own + "/"))


def _form_ok(request: Request, csrf: str | None) -> bool:
    return same_origin(request) and csrf is not None and \
        hmac.compare_digest(csrf, form_token(request))


def _to_login() -> RedirectResponse:
    return RedirectResponse("/app/login", status_code=303)


def _forbidden(request: Request, visit: app_sessions.Visit | None = None) -> HTMLResponse:
    return problem(request, 403, _("This form did not come from this page; nothing was done. "
                                   "Open the page again and send it from there."),
                   visit=visit)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def problem(request: Request, status: int, message: str,
            visit: app_sessions.Visit | None = None) -> HTMLResponse:
    """A page that says what went wrong, in one line, and the way back."""
    return render(request, "problem.html", status=status,
                  title=_("Not found") if status == 404 else _("Something went wrong"),
                  message=message, back="/app/", back_text=_("Back to my tasks"),
                  who=visit.actor if visit else None,
                  csrf=form_token(request) if visit else None)


def is_page(request: Request) -> bool:
    """Is this a request for the pages (answered in HTML, not JSON)?"""
    path = request.url.path
    return path == "/app" or path.startswith("/app/")


# --- the pages --------------------------------------------------------------------------------

#: The pages' routes: (method, path, endpoint), added to the app by `install`. Not an
#: APIRouter: FastAPI 0.150 keeps an included router as one nested route, which the
#: service's `Gate` (it matches the app's own routes) cannot see into.
ROUTES: list[tuple[str, str, Any]] = []


def _route(method: str, path: str):
    def add(fn):
        ROUTES.append((method, "/app" + path, fn))
        return fn
    return add


@_route("GET", "/login")
def login_page(request: Request, bye: Optional[int] = None) -> Response:
    """The login: one big field for the access code."""
    if _visit(request) is not None:
        return RedirectResponse("/app/", status_code=303)
    notice = _("You have logged out.") if bye else None
    return render(request, "login.html", notice=notice, error=None)


@_route("POST", "/login")
async def login(request: Request, code: Optional[str] = Form(None)) -> Response:
    """Check the code as the API does (its slow-down and counts included), then start a
    session."""
    if not same_origin(request):
        return _forbidden(request)
    code = (code or "").strip()
    if not code:
        return _login_error(request, _("Enter your access code"), 400)
    ledger = _ledger(request)
    try:
        who = await run_in_threadpool(ledger.identify, common.client_address(request), code)
    except common.Unauthenticated as exc:
        if exc.delay > 0:
            await common.pause(exc.delay)
        return _login_error(request, str(exc.cause), 401)

    def begin() -> str:
        with ledger.acting(who, write=True) as s:
            return app_sessions.start(s, actor=who)

    token = await run_in_threadpool(begin)
    response = RedirectResponse("/app/", status_code=303)
    response.set_cookie(COOKIE, token, max_age=app_sessions.IDLE_DAYS * 86400, path="/app",
                        httponly=True, samesite="strict", secure=_secure(request))
    return response


def _login_error(request: Request, message: str, status: int) -> HTMLResponse:
    return render(request, "login.html", status=status, error=message, notice=None,
                  problems=[("code", message)])


@_route("GET", "/logout")
def logout_page(request: Request) -> Response:
    """Asks before logging out (a link cannot log anyone out)."""
    visit = _visit(request)
    if visit is None:
        return _to_login()
    return render(request, "logout.html", who=visit.actor, csrf=form_token(request))


@_route("POST", "/logout")
async def logout(request: Request, csrf: Optional[str] = Form(None)) -> Response:
    """Ends the session: its row is deleted, the cookie cleared."""
    visit = await run_in_threadpool(_visit, request)
    if visit is None:
        return _to_login()
    if not _form_ok(request, csrf):
        return _forbidden(request, visit)
    ledger = _ledger(request)

    def end() -> None:
        with ledger.acting(visit.actor, write=True) as s:
            app_sessions.end(s, actor=visit.actor, token=request.cookies.get(COOKIE))

    await run_in_threadpool(end)
    response = RedirectResponse("/app/login?bye=1", status_code=303)
    response.delete_cookie(COOKIE, path="/app", httponly=True, samesite="strict",
                           secure=_secure(request))
    return response


@_route("GET", "/")
def home(request: Request, done: Optional[int] = None, outcome: Optional[str] = None,
         released: Optional[int] = None, page: int = 1) -> Response:
    """My open tasks, overdue first, `PAGE_SIZE` a page (each page stays small)."""
    visit = _visit(request)
    if visit is None:
        return _to_login()
    with _ledger(request).acting(visit.actor) as s:
        rows = list_tasks(s, actor=visit.actor)
    rows.sort(key=lambda r: (not r["overdue"], r["due"], r["id"]))
    total, pages = len(rows), max(1, -(-len(rows) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    rows = rows[(page - 1) * PAGE_SIZE:page * PAGE_SIZE]
    for r in rows:
        r["kind_name"] = word(r["kind"], "task_kind")
    banner = None
    if done is not None and outcome in codes.OUTCOME:
        banner = _("Recorded: {outcome} (task {id}).").format(outcome=word(outcome, "outcome"),
                                                              id=done)
    elif released is not None:
        banner = _("Handed back: task {id}.").format(id=released)
    return render(request, "tasks.html", who=visit.actor, csrf=form_token(request),
                  rows=rows, total=total, page=page, pages=pages, banner=banner,
                  words=_words())


def _words() -> dict[str, str]:
    return {"due": pgettext("task", "due")}


def _fields(view: dict, outcome: str, given: dict[str, str] | None,
            errors: dict[str, str]) -> list[dict]:
    """The answers the outcome takes on this kind of task, as form fields: the values on
    record (or those just sent), which are required, each one's error."""
    taken, required = rules.answers_taken(view["kind"], outcome)
    member = view["member"]
    out = []
    for key in taken:
        if given is not None:
            value = given.get(key, "")
        else:
            value = member.get(key) or ""
        choices = [(v, word(v, of) if of else _(name)) for v, of, name in CHOICES.get(key, ())]
        out.append({"key": key, "label": _(FIELD_LABELS.get(key, key)),
                    "hint": rules.answer_help(key), "value": str(value),
                    "required": key in required, "choices": choices,
                    "tel": key in PHONE_FIELDS, "error": errors.get(key)})
    return out


def _card(request: Request, visit: app_sessions.Visit, task_id: int, *, status: int = 200,
          given: dict[str, str] | None = None, errors: dict[str, str] | None = None,
          summary: list[tuple[str | None, str]] | None = None,
          note: str | None = None) -> Response:
    """The task card (its showing logged: door ``app``), with what went wrong if anything."""
    errors = errors or {}
    try:
        with _ledger(request).acting(visit.actor, write=True) as s:
            view = task_view(s, task_id=task_id, actor=visit.actor, door=APP)
    except (NotFound, Refused) as exc:
        return problem(request, 404 if isinstance(exc, NotFound) else 403, str(exc), visit)
    success = view["success"]
    others = [(o, word(o, "outcome")) for o in sorted(
        view["outcomes"], key=lambda o: list(codes.OUTCOME).index(o)) if o != success]
    fields = _fields(view, success, given, errors)
    problems = list(summary or [])
    problems += [(f"a_{f['key']}", f"{f['label']}: {f['error']}") for f in fields
                 if f["error"]]
    if view["next_attempt"]:
        attempts = _("{n} of {most}, try again from {day}").format(
            n=view["attempts"], most=view["max_attempts"], day=view["next_attempt"])
    else:
        attempts = _("{n} of {most}").format(n=view["attempts"], most=view["max_attempts"])
    meeting = view.get("meeting")
    if meeting:
        meeting = {**meeting, "kind_name": word(meeting["kind"], "meeting_kind")}
    return render(
        request, "task.html", status=status, who=visit.actor, csrf=form_token(request),
        t=view, m=view["member"], kind_name=word(view["kind"], "task_kind"),
        homebound=_(YES_NO.get(view["member"]["homebound"], view["member"]["homebound"])), attempts=attempts,
        meeting=meeting, how=word(view.get("how"), "make_up_how") if view.get("how") else None,
        earlier=[{"on": a["on"], "name": word(a["outcome"], "outcome"), "note": a["note"]}
                 for a in view["earlier"]],
        success=success, success_name=word(success, "outcome"), others=others,
        fields=fields, problems=problems, key=secrets.token_urlsafe(18), note=note,
        link_key=secrets.token_urlsafe(18), link_days=LINK_DAYS.default, words=_words())


@_route("GET", "/tasks/{task_id}")
def card(request: Request, task_id: int) -> Response:
    """One task: who, how to reach them, what happened before, what to record."""
    visit = _visit(request)
    if visit is None:
        return _to_login()
    return _card(request, visit, task_id)


@_route("POST", "/tasks/{task_id}/record")
async def record(request: Request, task_id: int, outcome: Optional[str] = Form(None),
                 note: Optional[str] = Form(None), key: Optional[str] = Form(None),
                 csrf: Optional[str] = Form(None), seen_attempts: Optional[int] = Form(None),
                 answers_for: Optional[str] = Form(None)) -> Response:
    """Record what happened (`record_or_ask`, once per key): back to the list, or the card
    again with what to correct."""
    visit = await run_in_threadpool(_visit, request)
    if visit is None:
        return _to_login()
    if not _form_ok(request, csrf):
        return _forbidden(request, visit)
    form = await request.form()
    given = {k[len(_ANSWER):]: str(v).strip() for k, v in form.multi_items()
             if k.startswith(_ANSWER)}
    answers = {k: v for k, v in given.items() if v} if outcome and outcome == answers_for \
        else {}
    note = (note or "").strip() or None
    return await run_in_threadpool(_record, request, visit, task_id, outcome, note, key,
                                   seen_attempts, answers, given)


def _record(request: Request, visit: app_sessions.Visit, task_id: int, outcome: str | None,
            note: str | None, key: str | None, seen: int | None, answers: dict[str, str],
            given: dict[str, str]) -> Response:
    errors = rules.answer_errors(answers)
    if errors:  # each wrong answer next to its field; nothing recorded
        return _card(request, visit, task_id, status=422, given=given, errors=errors,
                     note=note)
    who = visit.actor
    body = {"outcome": outcome, "note": note, "answers": answers, "seen_attempts": seen}
    try:
        with _ledger(request).acting(who, write=True) as s:
            def work() -> tuple[int, dict, bool]:
                res = record_or_ask(s, task_id=task_id, outcome=outcome, actor=who, note=note,
                                    answers=answers, seen_attempts=seen, door=APP)
                if isinstance(res, AnswerForm):
                    return 200, {"missing": res.missing}, False
                return 200, {"recorded": asdict(res)}, True

            answer = idempotency.once(s, actor=who, key=key, method="POST",
                                      path=f"/app/tasks/{task_id}/record", body=body, work=work)
    except OutreachError as exc:
        if isinstance(exc, NotFound):
            return problem(request, 404, str(exc), visit)
        status = next(code for cls, code in common.STATUS if isinstance(exc, cls))
        return _card(request, visit, task_id, status=status, given=given,
                     summary=[(None, str(exc))], note=note)
    if "missing" in answer.body:
        missing = {k: _("Enter {what}").format(what=_(FIELD_LABELS.get(k, k)))
                   for k in answer.body["missing"]}
        return _card(request, visit, task_id, status=422, given=given, errors=missing,
                     note=note)
    recorded = answer.body["recorded"]
    return RedirectResponse(f"/app/?done={recorded['task_id']}&outcome={recorded['outcome']}",
                            status_code=303)


@_route("GET", "/tasks/{task_id}/release")
def release_page(request: Request, task_id: int) -> Response:
    """Asks before handing a task back."""
    visit = _visit(request)
    if visit is None:
        return _to_login()
    with _ledger(request).acting(visit.actor) as s:
        mine = [r for r in list_tasks(s, actor=visit.actor) if r["id"] == task_id]
    if not mine:
        return problem(request, 404, _("Task {id} is not one of your open tasks.").format(
            id=task_id), visit)
    return render(request, "release.html", who=visit.actor, csrf=form_token(request),
                  task=mine[0], key=secrets.token_urlsafe(18))


@_route("POST", "/tasks/{task_id}/release")
async def release(request: Request, task_id: int, key: Optional[str] = Form(None),
                  csrf: Optional[str] = Form(None)) -> Response:
    """Hand the task back (`tasks.work.outcomes.release`, once per key)."""
    visit = await run_in_threadpool(_visit, request)
    if visit is None:
        return _to_login()
    if not _form_ok(request, csrf):
        return _forbidden(request, visit)

    def hand_back() -> Response:
        who = visit.actor
        try:
            with _ledger(request).acting(who, write=True) as s:
                def work() -> tuple[int, dict, bool]:
                    t = release_task(s, task_id=task_id, actor=who)
                    return 200, {"task_id": t.id, "status": str(t.status)}, True

                idempotency.once(s, actor=who, key=key, method="POST",
                                 path=f"/app/tasks/{task_id}/release", body=None, work=work)
        except OutreachError as exc:
            status = next(code for cls, code in common.STATUS if isinstance(exc, cls))
            return problem(request, status, str(exc), visit)
        return RedirectResponse(f"/app/?released={task_id}", status_code=303)

    return await run_in_threadpool(hand_back)


@_route("POST", "/tasks/{task_id}/link")
async def share_link(request: Request, task_id: int, key: Optional[str] = Form(None),
                     csrf: Optional[str] = Form(None)) -> Response:
    """Make the member's own link (`tasks.links.member_links.task_link_once`: the same rule as
    ``outreach member link``, once per key) and show it: the phone's share sheet (or a
    copy) through ``static/app.js``, the address as text, its QR code as inline SVG. The
    address is shown this once (never stored): the page is not kept by the browser."""
    visit = await run_in_threadpool(_visit, request)
    if visit is None:
        return _to_login()
    if not _form_ok(request, csrf):
        return _forbidden(request, visit)

    def make() -> Response:
        try:
            with _ledger(request).acting(visit.actor, write=True) as s:
                out = task_link_once(s, task_id=task_id, actor=visit.actor, key=key)
        except OutreachError as exc:
            status = next(code for cls, code in common.STATUS if isinstance(exc, cls))
            return problem(request, status, str(exc), visit)
        url = out.get("url")
        response = render(request, "link.html", who=visit.actor, csrf=form_token(request),
                          task_id=task_id, member=out["name"], url=url,
                          until=out["expires_at"][:10],
                          qr=qr_svg(url, _("QR code of the link")) if url else None)
        response.headers["Cache-Control"] = "no-store"
        return response

    return await run_in_threadpool(make)


def qr_svg(url: str, label: str) -> str:
    """The QR code of ``url`` as inline SVG (segno; dark on white, its quiet zone kept),
    named for screen readers."""
    import segno
    from markupsafe import escape

    svg = segno.make(url, error="m").svg_inline(scale=1, border=4, omitsize=True,
                                                svgclass="qr", dark="#000", light="#fff")
    return svg.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1)


@_route("POST", "/check")
async def check(request: Request, key: Optional[str] = Form(None),
                value: Optional[str] = Form(None), csrf: Optional[str] = Form(None)) -> Response:
    """One answer checked as it is typed (`tasks.work.rules.answer_errors`): ``{"error": …}``,
    null when it is right. Writes nothing; the record is judged again when it is sent."""
    visit = await run_in_threadpool(_visit, request)
    if visit is None:
        return JSONResponse({"error": None}, status_code=401)
    if not _form_ok(request, csrf):
        return JSONResponse({"error": None}, status_code=403)
    if key not in rules.ANSWERS:
        return JSONResponse({"error": None}, status_code=400)
    problems = rules.answer_errors({key: value or ""})
    return JSONResponse({"error": problems.get(key)})


def install(app: FastAPI) -> None:
    """Add the pages and their static files to the service."""
    for method, path, endpoint in ROUTES:
        app.add_api_route(path, endpoint, methods=[method], include_in_schema=False)
    app.mount("/app/static", Static(directory=STATIC), name="app-static")
