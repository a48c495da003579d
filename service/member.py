"""The member's own link (``/m/{token}``, issue 26): server-rendered pages of the ledger
service for a member, no login, from `tasks.links.member_links` — no rule is written here.

- ``/m/{token}``: the member's name and branch, what the ledger holds masked, the notices
  they may answer and the make-up studies they may confirm; "these details are right"
  (``POST /m/{token}/confirm``).
- ``/m/{token}/address`` (where they live: locally or away, and the address),
  ``/m/{token}/phone``, ``/m/{token}/family``: one thing per page; nothing on record is
  filled in (the page shows only the masked value).
- ``/m/{token}/notice/{meeting}``: "I will join by phone" / "I ask to be excused" + why.
- ``/m/{token}/study/{meeting}``: the material's title and "I have studied it".

A wrong, expired or revoked link — or a member no longer contactable — gets one page,
"link not valid", after the same slow-down as a wrong access code (`tasks.access
.login_delay`, counted per client address with the wrong codes: `Ledger.count_address`).
Every form carries an ``Idempotency-Key`` made when it was shown (a hidden field: sent
twice, done once) and must come from this service's own pages (``Origin`` / ``Referer``,
`service.pages.same_origin`); the token in the address is the rest of the protection (no
other site knows it). A volunteer's session cookie (path ``/app``) opens nothing here and
a token opens nothing under ``/app/``.
"""

from __future__ import annotations

import secrets
from typing import Any, Optional

from fastapi import Depends, FastAPI, Form, Request
from pydantic import BaseModel, Field
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from outreach.db.errors import BadInput, OutreachError
from outreach.i18n import N_, _
from outreach.service import common
from outreach.service import pages
from outreach.tasks.access import permissions as access
from outreach.tasks.links import member_links as links

#: What a saved form says on the member's page (``?saved=``).
SAVED = {
    "confirmed": N_("Thank you: your details are confirmed."),
    "corrected": N_("Thank you: your correction is recorded."),
    "remote": N_("Thank you: the branch knows you will join by phone."),
    "excused": N_("Thank you: the branch knows you ask to be excused."),
    "made_up": N_("Thank you: your make-up study is recorded."),
    "noted": N_("Thank you: your volunteer will see that you have studied it."),
}
#: The one-thing-per-page forms of the member's details: page → the fields it sends.
DETAIL_PAGES = {"address": ("residence", "address"), "phone": ("phone",),
                "family": ("family_contact_name", "family_contact_phone")}

ROUTES: list[tuple[str, str, Any]] = []


def _route(method: str, path: str):
    def add(fn):
        ROUTES.append((method, "/m" + path, fn))
        return fn
    return add


def _render(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
    context.setdefault("key", secrets.token_hex(16))  # the form's Idempotency-Key
    response = pages.render(request, name, status=status, **context)
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


async def _not_valid(request: Request) -> HTMLResponse:
    """The one answer to every link that does not open, after the wrong-code slow-down
    of this client address (which it counts)."""
    ledger: common.Ledger = request.app.state.ledger
    address = common.client_address(request)

    def before() -> int:
        with ledger.acting(None) as s:
            return ledger.address_failures(s, address)

    delay = access.login_delay(await run_in_threadpool(before))
    await run_in_threadpool(ledger.count_address, address)
    if delay > 0:
        await common.pause(delay)
    return _render(request, "member_invalid.html", status=404, here="/m/",
                   message=_(links.NOT_VALID))


def _open(request: Request, token: str) -> links.Grant | None:
    ledger: common.Ledger = request.app.state.ledger
    try:
        with ledger.acting(None) as s:
            return links.open_link(s, token)
    except links.LinkNotValid:
        return None


def _page(request: Request, token: str, grant: links.Grant, **extra) -> dict:
    with request.app.state.ledger.acting(None) as s:
        page = links.member_page(s, grant=grant)
    for n in page["notices"]:
        n["kind_name"] = pages.word(n["kind"], "meeting_kind")
        n["answer_name"] = pages.word(n["answer"], "attendance") if n["answer"] else None
    for st in page["studies"]:
        st["kind_name"] = pages.word(st["kind"], "meeting_kind")
    page["residence_name"] = pages.word(page["residence"], "residence")
    return {"p": page, "base": f"/m/{token}", **extra}


def _forbidden(request: Request, token: str) -> HTMLResponse:
    return _render(request, "member_problem.html", status=403, base=f"/m/{token}",
                   message=_("This form did not come from this page; nothing was done. Open "
                             "the page again and send it from there."))


def _saved(token: str, outcome: str | None) -> RedirectResponse:
    return RedirectResponse(f"/m/{token}?saved={outcome or 'confirmed'}", status_code=303)


def _write(request: Request, fn, **kwargs):
    """One of the member's writes, in a write transaction of its own."""
    with request.app.state.ledger.acting(None, write=True) as s:
        return fn(s, **kwargs)


# --- the member's page ---------------------------------------------------------------------


@_route("GET", "/{token}")
async def member_home(request: Request, token: str, saved: Optional[str] = None) -> Response:
    grant = await run_in_threadpool(_open, request, token)
    if grant is None:
        return await _not_valid(request)
    ctx = await run_in_threadpool(_page, request, token, grant)
    banner = _(SAVED[saved]) if saved in SAVED else None
    return _render(request, "member.html", banner=banner, **ctx)


@_route("POST", "/{token}/confirm")
async def member_confirm(request: Request, token: str,
                         key: Optional[str] = Form(None)) -> Response:
    grant = await run_in_threadpool(_open, request, token)
    if grant is None:
        return await _not_valid(request)
    if not pages.same_origin(request):
        return _forbidden(request, token)
    try:
        saved = await run_in_threadpool(_write, request, links.report_details, grant=grant,
                                        key=key)
    except OutreachError as exc:
        return _problem(request, token, exc)
    return _saved(token, saved.outcome)


def _problem(request: Request, token: str, exc: OutreachError) -> HTMLResponse:
    status = 400 if isinstance(exc, BadInput) else 403
    return _render(request, "member_problem.html", status=status, base=f"/m/{token}",
                   message=str(exc))


# --- details, one thing per page -------------------------------------------------------------


def _detail_context(request: Request, token: str, grant: links.Grant, what: str,
                    given: dict | None = None, errors: dict | None = None) -> dict:
    ctx = _page(request, token, grant)
    errors = errors or {}
    ctx.update(what=what, given=given or {}, errors=errors,
               problems=[(f"f_{k}", v) for k, v in errors.items()])
    return ctx


@_route("GET", "/{token}/{what}")
async def member_detail(request: Request, token: str, what: str) -> Response:
    grant = await run_in_threadpool(_open, request, token)
    if grant is None or what not in DETAIL_PAGES:
        return await _not_valid(request) if grant is None else _missing(request, token)
    ctx = await run_in_threadpool(_detail_context, request, token, grant, what)
    return _render(request, f"member_{what}.html", **ctx)


@_route("POST", "/{token}/{what}")
async def member_detail_save(request: Request, token: str, what: str,
                             key: Optional[str] = Form(None),
                             residence: Optional[str] = Form(None),
                             address: Optional[str] = Form(None),
                             phone: Optional[str] = Form(None),
                             family_contact_name: Optional[str] = Form(None),
                             family_contact_phone: Optional[str] = Form(None)) -> Response:
    grant = await run_in_threadpool(_open, request, token)
    if grant is None or what not in DETAIL_PAGES:
        return await _not_valid(request) if grant is None else _missing(request, token)
    if not pages.same_origin(request):
        return _forbidden(request, token)
    sent = {"residence": residence, "address": address, "phone": phone,
            "family_contact_name": family_contact_name,
            "family_contact_phone": family_contact_phone}
    changes = {k: (sent[k] or "").strip() for k in DETAIL_PAGES[what] if (sent[k] or "").strip()}
    errors: dict[str, str] = {}
    if not changes:
        first = DETAIL_PAGES[what][-1]
        errors[first] = _(links.FIELD_HELP[first])
    else:
        try:
            saved = await run_in_threadpool(_write, request, links.report_details,
                                            grant=grant, key=key, changes=changes)
            return _saved(token, saved.outcome)
        except links.FieldProblem as exc:
            errors[exc.field] = str(exc)
        except OutreachError as exc:
            return _problem(request, token, exc)
    ctx = await run_in_threadpool(_detail_context, request, token, grant, what, sent, errors)
    return _render(request, f"member_{what}.html", status=400, **ctx)


def _missing(request: Request, token: str) -> HTMLResponse:
    return _render(request, "member_problem.html", status=404, base=f"/m/{token}",
                   message=_("There is no such page."))


# --- a notice, a make-up study -----------------------------------------------------------------


def _meeting_of(ctx: dict, kind: str, meeting_id: int) -> dict | None:
    return next((x for x in ctx["p"][kind] if x["meeting_id"] == meeting_id), None)


@_route("GET", "/{token}/{part}/{meeting_id}")
async def member_meeting(request: Request, token: str, part: str, meeting_id: int) -> Response:
    grant = await run_in_threadpool(_open, request, token)
    if grant is None:
        return await _not_valid(request)
    ctx = await run_in_threadpool(_page, request, token, grant)
    found = _meeting_of(ctx, "notices" if part == "notice" else "studies", meeting_id) \
        if part in ("notice", "study") else None
    if found is None:
        return _missing(request, token)
    return _render(request, f"member_{part}.html", m=found, given={}, errors={}, **ctx)


@_route("POST", "/{token}/{part}/{meeting_id}")
async def member_meeting_save(request: Request, token: str, part: str, meeting_id: int,
                              key: Optional[str] = Form(None),
                              answer: Optional[str] = Form(None),
                              reason: Optional[str] = Form(None)) -> Response:
    grant = await run_in_threadpool(_open, request, token)
    if grant is None:
        return await _not_valid(request)
    if part not in ("notice", "study"):
        return _missing(request, token)
    if not pages.same_origin(request):
        return _forbidden(request, token)
    errors: dict[str, str] = {}
    try:
        if part == "study":
            saved = await run_in_threadpool(_write, request, links.confirm_study, grant=grant,
                                            key=key, meeting_id=meeting_id)
        elif answer not in ("remote", "excused"):
            errors["answer"] = _("Choose one of the answers")
        elif answer == "excused" and not (reason or "").strip():
            errors["reason"] = _("Say why you cannot come")
        else:
            saved = await run_in_threadpool(_write, request, links.answer_notice,
                                            grant=grant, key=key, meeting_id=meeting_id,
                                            answer=answer, reason=reason)
        if not errors:
            return _saved(token, saved.outcome)
    except OutreachError as exc:
        return _problem(request, token, exc)
    ctx = await run_in_threadpool(_page, request, token, grant)
    found = _meeting_of(ctx, "notices", meeting_id)
    if found is None:
        return _missing(request, token)
    ctx.update(problems=[(f"f_{k}", v) for k, v in errors.items()])
    return _render(request, "member_notice.html", status=400, m=found,
                   given={"answer": answer, "reason": reason}, errors=errors, **ctx)


async def member_nothing(request: Request, rest: str = "") -> Response:
    """Anything else under /m/: the same "link not valid" (no page tells what exists)."""
    return await _not_valid(request)


async def member_nothing_sent(request: Request, rest: str = "",
                              key: Optional[str] = Form(None)) -> Response:
    """A form sent to anything else under /m/: the same (its body read, nothing done)."""
    return await _not_valid(request)


ROUTES.append(("GET", "/m/{rest:path}", member_nothing))
ROUTES.append(("POST", "/m/{rest:path}", member_nothing_sent))


# --- the JSON API: making and revoking links (`outreach member link` in remote mode) -------


class LinkIn(BaseModel):
    """A new link for a member."""

    days: Optional[int] = Field(None, ge=1, le=365, description="How long it is valid "
                                "(default 30 days).")


def make_link_api(ref: str, body: LinkIn, request: Request,
                  who: access.Actor = Depends(common.caller),
                  key: Optional[str] = Depends(common.idempotency_key)) -> dict:
    """A member's own link (`outreach member link`): coordinators for anyone, a volunteer
    for a member on their own open tasks. The address is in the first answer only (the
    token is never stored). Needs an ``Idempotency-Key``."""
    with request.app.state.ledger.acting(who, write=True) as s:
        return links.link_once(s, ref=ref, actor=who, key=key, days=body.days)


def revoke_links_api(ref: str, request: Request,
                     who: access.Actor = Depends(common.caller),
                     key: Optional[str] = Depends(common.idempotency_key)) -> dict:
    """Withdraw a member's live links (`outreach member link --revoke`)."""
    with request.app.state.ledger.acting(who, write=True) as s:
        return links.link_once(s, ref=ref, actor=who, key=key, revoke=True)


def install(app: FastAPI) -> None:
    """Add the member's pages to the service (after the volunteer's), and the two JSON
    routes that make and revoke links."""
    app.add_api_route("/members/{ref}/links", make_link_api, methods=["POST"],
                      tags=["volunteer"])
    app.add_api_route("/members/{ref}/links/revoke", revoke_links_api, methods=["POST"],
                      tags=["volunteer"])
    for method, path, endpoint in ROUTES:
        app.add_api_route(path, endpoint, methods=[method], include_in_schema=False)
