"""A member's own link (``/m/{token}``): "流动不流家" — they moved, they did not leave.

A coordinator, or a volunteer for a member on their own open tasks, makes a personal link
(`make_link`, `outreach member link LEDGER_NO`) and hands it over as a message or a QR
code. The link is one member's only:

* its token is random (`TOKEN_BYTES` = 24 bytes, 192 bits, URL-safe) and never stored:
  ``member_links`` keeps its SHA-256 (`hash_token`), the member, who made it, when it
  expires (`DAYS`, 30 by default) and when it was revoked (`revoke_links`: every live link
  of the member at once);
* `open_link` turns a token into a `Grant` — the only door in, and the only maker of a
  Grant: a wrong, expired or revoked token, or one of a member who is no longer
  contactable, are refused alike with `LinkNotValid` ("link not valid"), so that nobody
  learns which links exist. The service waits before it says so, as for a wrong code.

With a Grant the member (no login, no access code) sees their own name and branch and,
masked (`mask_phone`: 138****1234; `street_of`: only the street of the address), what the
ledger holds (`member_page`) — never anything of another member or of a volunteer; the
showing is not a volunteer's and is not in the access log. And they can:

* confirm or correct their address, phone, family contact, living locally or away
  (`report_details`): a correction goes through the ledger's own rules (each value checked
  by `rules.check_answer`) and writer (`work.outcomes.write_answers`: history rows, a
  movement for a change of residence, source ``member_link``); either way the fields they
  confirmed count as confirmed today (``address_verified_on`` — the scorecard's
  "movements recorded" — and the others), and a member never confirmed or unreachable
  becomes active;
* answer a meeting notice (`answer_notice`): "I will join by phone" (``remote``, where the
  meeting offers it) or "I ask to be excused" with a reason — written on the invitation
  (``attendance.member_answer``): an intention, the status stays ``invited`` until the
  coordinator marks the meeting (`outreach meeting show` shows the answer);
* confirm make-up study (`confirm_study`): where the meeting's branch accepts self-study
  (``branches.self_study``) an excused or absent attendance becomes ``made_up`` with method
  ``self_study`` through the attendance machine (and the open make-up task is cancelled);
  otherwise ``attendance.studied_at`` is set and the make-up task's volunteer sees it on
  the task card.

Every write carries an ``Idempotency-Key`` (the form's hidden field; one key once per link,
`member_link_keys`) and is in the ledger's history with the link as its source: the reason
of every history row reads ``member link <id>`` (`SOURCE`), no volunteer as its actor.

Service functions: they take a Session and flush, never commit. Making and revoking links
declare their rule (`tasks.access.permissions.requires`); the member's own functions take the `Grant`
instead of an actor (tests/tasks/test_permissions.py lists them and why).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import InitVar, dataclass, field

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outreach.db.codes import CampaignKind, MakeUpHow, MemberAnswer, MovementSource, Residence
from outreach.db.errors import BadInput, Refused, shown
from outreach.db.machines import (
    CONTACTABLE_MEMBER,
    HELD_MEETING,
    MISSED,
    OPEN_TASK,
    AttendanceStatus,
    MeetingStatus,
    MemberStatus,
    TaskStatus,
)
from outreach.db.models import (
    Attendance,
    Branch,
    Campaign,
    CampaignRun,
    Meeting,
    Member,
    MemberChange,
    MemberLink,
    MemberLinkKey,
    OutreachTask,
)
from outreach.db.state import flush, move_attendance, move_member, move_task
from outreach.i18n import N_, _
from outreach.tasks.kernel import rules as kernel
from outreach.tasks.work import rules
from outreach.tasks.access.permissions import HOLDER, PERSON, Actor, requires
from outreach.tasks.kernel.labels import label

#: Random bytes of a token (192 bits; the issue asks for 128 or more).
TOKEN_BYTES = 24
#: A token as it travels: URL-safe base64 of `TOKEN_BYTES` (32 characters).
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32}")
#: How long a link lives, in days (``--days``).
DAYS = kernel.Limit(1, 365, 30, N_("days"))
#: The reason of every history row a link writes: "member link <id>".
SOURCE = "member link"
#: What the member may correct (`rules.ANSWERS` keys), in the page's order.
DETAILS = ("address", "residence", "phone", "family_contact_name", "family_contact_phone")
#: The ``*_verified_on`` a confirmation of each part sets.
VERIFIED = {"address": "address_verified_on", "residence": "address_verified_on",
            "phone": "phone_verified_on", "family_contact_name": "family_contact_verified_on",
            "family_contact_phone": "family_contact_verified_on"}
#: The history field of a member's answer to a notice / of their make-up study
#: (``member_changes``; values ``"<meeting id>:<answer>"``).
ANSWER_FIELD, STUDY_FIELD = "meeting_answer", "make_up_study"
#: A reason to be excused: free text, short.
REASON_LEN = 500
#: How long a link's idempotency keys are kept.
KEEP_DAYS = 30

NOT_VALID = N_("this link is not valid: it may have expired or been withdrawn. Ask your "
               "branch for a new one.")


class LinkNotValid(Refused):
    """A wrong, expired or revoked token (or of a member no longer contactable): all alike."""


class FieldProblem(BadInput):
    """One value the member typed is not right: which field, and what to do (the page
    shows it next to that field)."""

    def __init__(self, field_: str, message: str) -> None:
        super().__init__(message)
        self.field = field_


#: What to tell a member whose value was refused, per field.
FIELD_HELP = {
    "phone": N_("Enter a phone number, like 138 1234 5678"),
    "family_contact_phone": N_("Enter your family member's phone number, like 138 1234 5678"),
    "address": N_("Enter your address (up to 500 characters)"),
    "family_contact_name": N_("Enter your family member's name (up to 200 characters)"),
    "residence": N_("Choose where you live now"),
}


class KeyReused(BadInput):
    """The same Idempotency-Key on this link came with a different request."""


def _today() -> dt.date:
    """The organisation's today (`db.settings.today`): what is still to come for the member."""
    from outreach.db import settings

    return settings.today()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def hash_token(token: str) -> str:
    """SHA-256 (hex) of a token: what ``member_links.token_hash`` holds."""
    return hashlib.sha256(("outreach-member-link\0" + token).encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def link_url(token: str, base: str | None = None) -> str:
    """The link's address: ``OUTREACH_PUBLIC_URL`` (or the local service's) + ``/m/TOKEN``."""
    from outreach.db import settings

    return f"{(base or settings.public_url()).rstrip('/')}/m/{token}"


# --- masking ---------------------------------------------------------------------------------

_DIGITS = re.compile(r"\d")


def mask_phone(phone: str | None) -> str | None:
    """``13812341234`` → ``138****1234``: the first three and the last four digits of a
    number of eight digits or more, else only the last two; other characters dropped."""
    if not phone:
        return None
    digits = "".join(_DIGITS.findall(phone))
    if len(digits) >= 8:
        return digits[:3] + "****" + digits[-4:]
    if len(digits) >= 3:
        return "*" * (len(digits) - 2) + digits[-2:]
    return "****"


#: Where a Chinese street name ends (路 road, 街 street, 道 avenue, 巷 lane, 胡同, 弄, 里).
_ZH_STREET = re.compile(r"([^\d\s省市区县镇乡州盟旗]{1,24}?(?:大街|大道|胡同|路|街|道|巷|弄|里))")
#: What starts the unit part of an English address.
_EN_UNIT = re.compile(r"\b(apt|apartment|suite|ste|unit|flat|room|rm|fl|floor|box|#)\b\.?",
                      re.IGNORECASE)


def street_of(address: str | None) -> str | None:
    """Only the street of an address: no house number, unit, city or postcode.

    ``北京市朝阳区建国路88号3栋502室`` → ``建国路``; ``12 Elm Street Apt. 4, Springfield``
    → ``Elm Street``. When no street can be told apart, None (the page says "on record")."""
    if not address:
        return None
    text = " ".join(str(address).split())
    if any("\u4e00" <= ch <= "\u9fff" for ch in text):
        head = _DIGITS.split(text, 1)[0]
        found = _ZH_STREET.findall(head)
        return found[-1] if found else None
    first = re.split(r"[,\n]", str(address).strip(), maxsplit=1)[0]
    first = _EN_UNIT.split(first, 1)[0]
    words = [w for w in first.split() if not _DIGITS.search(w)]
    return " ".join(words) or None


def mask_name(name: str | None) -> str | None:
    """A family contact's name: its first character, the rest as ``*``."""
    if not name:
        return None
    name = name.strip()
    return name[0] + "*" * min(max(len(name) - 1, 1), 3)


# --- making and revoking ---------------------------------------------------------------------


@dataclass(frozen=True)
class LinkMade:
    """A new link: its token (shown once, never stored), for whom, until when."""

    token: str
    link_id: int
    member_id: int
    ledger_no: str
    expires_at: dt.datetime


def _may_link(session: Session, actor: Actor, member: Member) -> None:
    """Coordinators for anyone; a volunteer for a member on their own open tasks."""
    from outreach.tasks.ledger.reports import can_see_contacts

    if not can_see_contacts(session, actor=actor, member_id=member.id):
        raise Refused(_("member {id} is not in your open tasks: only a coordinator may make "
                        "or withdraw their link").format(id=member.id))


@requires(PERSON)
def make_link(session: Session, *, ref: str, actor: Actor, days: int | None = None,
              now: dt.datetime | None = None) -> LinkMade:
    """A new personal link for the member ``ref`` (ledger number or id), valid ``days``
    (`DAYS`). Earlier links stay valid until they expire or are revoked."""
    from outreach.tasks.ledger.people import find_member

    member = find_member(session, ref=ref)
    _may_link(session, actor, member)
    if member.status not in CONTACTABLE_MEMBER:
        raise Refused(_("member {id} is {status}: no link is made").format(
            id=member.id, status=label(member.status, of="member_status")))
    days = DAYS.check(DAYS.default if days is None else days)
    now = now or _utcnow()
    token = new_token()
    link = MemberLink(member_id=member.id, token_hash=hash_token(token), created_by=actor.id,
                      created_at=now, expires_at=now + dt.timedelta(days=days))
    session.add(link)
    flush(session, f"member {member.id}")
    return LinkMade(token=token, link_id=link.id, member_id=member.id,
                    ledger_no=member.ledger_no, expires_at=link.expires_at)


@requires(PERSON)
def revoke_links(session: Session, *, ref: str, actor: Actor,
                 now: dt.datetime | None = None) -> int:
    """Withdraw every live link of the member ``ref``; how many."""
    from outreach.tasks.ledger.people import find_member

    member = find_member(session, ref=ref)
    _may_link(session, actor, member)
    now = now or _utcnow()
    result = session.execute(
        update(MemberLink).where(MemberLink.member_id == member.id,
                                 MemberLink.revoked_at.is_(None),
                                 MemberLink.expires_at > now)
        .values(revoked_at=now).execution_options(synchronize_session=False))
    flush(session, f"member {member.id}")
    return result.rowcount or 0


@requires(PERSON)
def link_once(session: Session, *, ref: str, actor: Actor, key: str | None,
              days: int | None = None, revoke: bool = False, base: str | None = None) -> dict:
    """`make_link` (or with ``revoke`` `revoke_links`) once per ``Idempotency-Key``
    (`tasks.access.idempotency.once`), for the CLI on this machine and the ledger service alike:
    ``{"ledger_no", "member_id", "expires_at", "url"}`` or ``{"ledger_no", "revoked"}``.
    The token is in the answer only the first time: the stored answer never holds it (a
    repeat says ``replay`` and gives no address — make a new link instead)."""
    from outreach.tasks.access.idempotency import once

    made: dict[str, str] = {}

    def work() -> tuple[int, dict, bool]:
        if revoke:
            n = revoke_links(session, ref=ref, actor=actor)
            return 200, {"ref": ref, "revoked": n}, True
        link = make_link(session, ref=ref, actor=actor, days=days)
        made["token"] = link.token
        return 200, {"ledger_no": link.ledger_no, "member_id": link.member_id,
                     "expires_at": link.expires_at.isoformat(timespec="minutes")}, True

    answer = once(session, actor=actor, key=key, method="POST",
                  path=f"/members/{ref}/links" + ("/revoke" if revoke else ""),
                  body=None if revoke else {"days": days}, work=work)
    out = {**answer.body, "replay": answer.replay}
    if not revoke:
        out["url"] = link_url(made["token"], base) if "token" in made else None
    return out


@requires(HOLDER)
def task_link_once(session: Session, *, task_id: int, actor: Actor, key: str | None,
                   days: int | None = None, base: str | None = None) -> dict:
    """The task card's "share link" (the phone pages): `link_once` for the member of task
    ``task_id`` — the caller's own task (a coordinator: any), and `make_link`'s own rule
    (a volunteer: a member of their open tasks). Adds ``"name"``: the member's."""
    from outreach.tasks.work.outcomes import load_task

    task = load_task(session, task_id)
    out = link_once(session, ref=str(task.member_id), actor=actor, key=key, days=days,
                    base=base)
    return {**out, "name": session.get(Member, task.member_id).name}


# --- the member's grant ----------------------------------------------------------------------

#: Only this module holds it: a `Grant` built anywhere else is refused at construction.
_KEY = object()


@dataclass(frozen=True)
class Grant:
    """What a valid link lets its holder do: act for ONE member (ids only). Only
    `open_link` builds one; it passes no `tasks.access` rule (it is not an `Actor`)."""

    link_id: int
    member_id: int
    key: InitVar[object] = None

    def __post_init__(self, key: object) -> None:
        if key is not _KEY:
            raise TypeError("a Grant comes from tasks.links.member_links.open_link")

    @property
    def reason(self) -> str:
        return f"{SOURCE} {self.link_id}"


def open_link(session: Session, token: str | None, *, now: dt.datetime | None = None) -> Grant:
    """The grant a token stands for; `LinkNotValid` (one message for every cause) for a
    malformed, unknown, expired or revoked token or a member no longer contactable."""
    if not isinstance(token, str) or not TOKEN_SHAPE.fullmatch(token):
        raise LinkNotValid(_(NOT_VALID))
    digest = hash_token(token)
    link = session.scalars(select(MemberLink).where(MemberLink.token_hash == digest)).first()
    now = now or _utcnow()
    if link is None or not hmac.compare_digest(link.token_hash, digest) \
            or link.revoked_at is not None or link.expires_at <= now:
        raise LinkNotValid(_(NOT_VALID))
    status = session.scalar(select(Member.status).where(Member.id == link.member_id))
    if status not in CONTACTABLE_MEMBER:
        raise LinkNotValid(_(NOT_VALID))
    return Grant(link_id=link.id, member_id=link.member_id, key=_KEY)


# --- what the member sees --------------------------------------------------------------------


def member_page(session: Session, *, grant: Grant, today: dt.date | None = None) -> dict:
    """The member's own page: name, branch, masked details, the notices they may answer
    (meetings still planned, today or later) and the make-up studies they may confirm.
    Nothing of anyone else; not a volunteer's showing (no access-log row)."""
    today = today or _today()
    m = session.get(Member, grant.member_id)
    branch = session.get(Branch, m.branch_id)
    link = session.get(MemberLink, grant.link_id)
    away = m.residence == Residence.AWAY
    rows = session.execute(
        select(Attendance, Meeting).join(Meeting, Meeting.id == Attendance.meeting_id)
        .where(Attendance.member_id == m.id)
        .order_by(Meeting.planned_on, Meeting.id)).all()
    notices, studies = [], []
    for att, mt in rows:
        if mt.status == MeetingStatus.PLANNED and mt.planned_on >= today \
                and att.status == AttendanceStatus.INVITED:
            notices.append({
                "meeting_id": mt.id, "kind": str(mt.kind), "on": mt.planned_on,
                "topic": mt.topic, "place": mt.place, "remote": str(mt.remote),
                "remote_details": mt.remote_details if att.member_answer else None,
                "answer": str(att.member_answer) if att.member_answer else None,
                "reason": att.member_reason})
        elif mt.status in HELD_MEETING and att.status in MISSED:
            studies.append({
                "meeting_id": mt.id, "kind": str(mt.kind), "on": mt.held_on or mt.planned_on,
                "topic": mt.topic, "material": mt.material or mt.topic,
                "studied_at": att.studied_at})
    return {
        "name": m.name, "branch": branch.name, "residence": str(m.residence), "away": away,
        "address": street_of(m.current_address if away else m.home_address),
        "has_address": bool(m.current_address if away else m.home_address),
        "phone": mask_phone(m.phone),
        "family_name": mask_name(m.family_contact_name),
        "family_phone": mask_phone(m.family_contact_phone),
        "address_verified_on": m.address_verified_on,
        "expires_at": link.expires_at,
        "notices": notices, "studies": studies,
    }


# --- the member's writes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Saved:
    """A member's write: done now, or (``replay``) done before with the same key."""

    replay: bool = False
    changed: tuple[str, ...] = field(default_factory=tuple)
    outcome: str | None = None


def _claim(session: Session, grant: Grant, key: str | None, what: str, body: dict,
           now: dt.datetime) -> bool:
    """Claim ``key`` for this link's write (True), or find it used for the same write
    before (False: a replay); `KeyReused` for another write, BadInput for a bad key. A
    write refused after its claim rolls the claim back with it (the caller's transaction),
    so that the member may try again with the same form."""
    from outreach.tasks.access.idempotency import check_key, request_hash

    key = check_key(key)
    asked = request_hash("POST", what, body)

    def stored() -> bool | None:
        row = session.scalars(select(MemberLinkKey).where(
            MemberLinkKey.link_id == grant.link_id, MemberLinkKey.key == key)).first()
        if row is None:
            return None
        if row.request_hash != asked:
            raise KeyReused(_("this form was already used for something else; open the page "
                              "again"))
        return False

    if stored() is False:
        return False
    try:
        with session.begin_nested():
            session.add(MemberLinkKey(link_id=grant.link_id, key=key, request_hash=asked,
                                      created_at=now))
            session.flush()
    except IntegrityError:
        if stored() is False:  # the same form, committed meanwhile
            return False
        raise
    session.execute(delete(MemberLinkKey).where(
        MemberLinkKey.link_id == grant.link_id,
        MemberLinkKey.created_at < now - dt.timedelta(days=KEEP_DAYS)))
    return True


def purge_keys(session: Session, *, now: dt.datetime | None = None) -> int:
    """Forget every link's Idempotency-Key older than `KEEP_DAYS` days (the daily sweep,
    as `tasks.access.idempotency.purge`; a link's own write also drops its old ones); how many."""
    cutoff = (now or _utcnow()) - dt.timedelta(days=KEEP_DAYS)
    result = session.execute(delete(MemberLinkKey).where(MemberLinkKey.created_at < cutoff))
    session.flush()
    return result.rowcount or 0


def _history(session: Session, grant: Grant, field_: str, value: str, now: dt.datetime) -> None:
    session.add(MemberChange(member_id=grant.member_id, field=field_, old_value=None,
                             new_value=value, actor_id=None, reason=grant.reason, at=now))


def report_details(session: Session, *, grant: Grant, key: str | None,
                   changes: dict[str, str] | None = None, today: dt.date | None = None,
                   now: dt.datetime | None = None) -> Saved:
    """The member confirms (no ``changes``: everything as the ledger holds it) or corrects
    (``changes``: some of `DETAILS`) their details. Each value is checked as a survey's
    answer is (`rules.check_answer`); the member's record is written by the ledger's own
    writer (`work.outcomes.write_answers`) with history marked ``member link <id>`` and a
    movement for a change of residence. The parts confirmed or corrected count as
    confirmed today (the address: the scorecard's "movements recorded")."""
    from outreach.tasks.work.outcomes import write_answers

    today = today or _today()
    now = now or _utcnow()
    changes = {k: v for k, v in (changes or {}).items() if v is not None and str(v).strip()}
    unknown = sorted(set(changes) - set(DETAILS))
    if unknown:
        raise BadInput(_("a member's link cannot change {fields}").format(
            fields=", ".join(shown(k) for k in unknown)))
    given: dict[str, str | None] = {}
    for k in DETAILS:
        if k not in changes:
            continue
        try:
            checked = rules.check_answer(k, changes[k])
        except BadInput:
            raise FieldProblem(k, _(FIELD_HELP[k])) from None
        if checked != kernel.SAME:
            given[k] = checked
    if not _claim(session, grant, key, "details", {k: changes[k] for k in sorted(changes)},
                  now):
        return Saved(replay=True)
    m = session.get(Member, grant.member_id)
    confirmed = set(given) if changes else set(DETAILS)
    if not m.phone:
        confirmed.discard("phone")
    if not (m.family_contact_name or m.family_contact_phone or "family_contact_name" in given
            or "family_contact_phone" in given):
        confirmed -= {"family_contact_name", "family_contact_phone"}
    write_answers(session, m, given, actor_id=None, reason=grant.reason, today=today,
                  source=MovementSource.MEMBER_LINK,
                  verified=tuple(sorted({VERIFIED[k] for k in confirmed}))
                  + (("confirmed_on",) if not changes else ()))
    if m.status in (MemberStatus.UNVERIFIED, MemberStatus.UNREACHABLE):
        move_member(session, m, MemberStatus.ACTIVE, actor_id=None, reason=grant.reason)
    m.failed_contacts = 0
    if not changes:
        _history(session, grant, "self_report", "confirmed", now)
    flush(session, f"member {m.id}")
    return Saved(changed=tuple(sorted(given)), outcome="corrected" if given else "confirmed")


def _own_attendance(session: Session, grant: Grant, meeting_id) -> tuple[Attendance, Meeting]:
    """The member's own invitation to ``meeting_id``; anything else is "no such meeting"
    (one answer whether the meeting exists or is another member's)."""
    row = None
    if isinstance(meeting_id, int) and 0 < meeting_id < 2**31:
        row = session.execute(
            select(Attendance, Meeting).join(Meeting, Meeting.id == Attendance.meeting_id)
            .where(Attendance.meeting_id == meeting_id,
                   Attendance.member_id == grant.member_id)).first()
    if row is None:
        raise BadInput(_("there is no such meeting for you"))
    return row[0], row[1]


def answer_notice(session: Session, *, grant: Grant, key: str | None, meeting_id: int,
                  answer: str, reason: str | None = None, today: dt.date | None = None,
                  now: dt.datetime | None = None) -> Saved:
    """The member's answer to a notice of a coming meeting: ``remote`` ("I will join by
    phone", where the meeting offers a remote option) or ``excused`` (with ``reason``).
    Written on the invitation; its status stays ``invited`` (the coordinator marks)."""
    today = today or _today()
    now = now or _utcnow()
    try:
        said = MemberAnswer(str(answer))
    except ValueError:
        raise BadInput(_("choose one of the answers")) from None
    reason = " ".join(str(reason or "").split()) or None
    if reason is not None:
        kernel.check_text(reason, N_("the reason"))
        if len(reason) > REASON_LEN:
            raise BadInput(_("the reason is too long ({limit} characters at most)").format(
                limit=REASON_LEN))
    if said == MemberAnswer.EXCUSED and not reason:
        raise BadInput(_("say why you cannot come"))
    att, mt = _own_attendance(session, grant, meeting_id)
    # a form sent again is answered "done" before the checks (which it changed)
    if not _claim(session, grant, key, f"notice/{mt.id}",
                  {"answer": said.value, "reason": reason}, now):
        return Saved(replay=True)
    if not (mt.status == MeetingStatus.PLANNED and mt.planned_on >= today
            and att.status == AttendanceStatus.INVITED):
        raise BadInput(_("this meeting can no longer be answered here"))
    if said == MemberAnswer.REMOTE and str(mt.remote) == "none":
        raise BadInput(_("this meeting cannot be joined by phone; you may ask to be excused"))
    att.member_answer = said
    att.member_reason = reason if said == MemberAnswer.EXCUSED else None
    att.answered_at = now
    _history(session, grant, ANSWER_FIELD, f"{mt.id}:{said.value}", now)
    flush(session, f"meeting {mt.id}")
    return Saved(outcome=said.value)


def confirm_study(session: Session, *, grant: Grant, key: str | None, meeting_id: int,
                  today: dt.date | None = None, now: dt.datetime | None = None) -> Saved:
    """"I have studied it": the member caught up on a meeting they were excused from or
    missed. Where the meeting's branch accepts self-study the attendance becomes
    ``made_up`` (``self_study``, today) and the open make-up task is cancelled; otherwise
    the note waits on the attendance (``studied_at``) for the make-up task's volunteer."""
    today = today or _today()
    now = now or _utcnow()
    att, mt = _own_attendance(session, grant, meeting_id)
    if not _claim(session, grant, key, f"study/{mt.id}", {}, now):
        return Saved(replay=True)  # a form sent again: done before
    if not (mt.status in HELD_MEETING and att.status in MISSED):
        raise BadInput(_("there is nothing to catch up on for this meeting"))
    branch = session.get(Branch, mt.branch_id)
    _history(session, grant, STUDY_FIELD, f"{mt.id}:studied", now)
    if not branch.self_study:
        att.studied_at = now
        flush(session, f"meeting {mt.id}")
        return Saved(outcome="noted")
    att.studied_at = now
    move_attendance(session, att, AttendanceStatus.MADE_UP, actor_id=None, reason=grant.reason,
                    made_up_on=today, made_up_how=MakeUpHow.SELF_STUDY, meeting=mt)
    runs = (select(CampaignRun.id).join(Campaign, Campaign.id == CampaignRun.campaign_id)
            .where(CampaignRun.meeting_id == mt.id, Campaign.kind == CampaignKind.MAKE_UP))
    for task in session.scalars(select(OutreachTask).where(
            OutreachTask.member_id == grant.member_id, OutreachTask.run_id.in_(runs),
            OutreachTask.status.in_(list(OPEN_TASK)))):
        move_task(session, task, TaskStatus.CANCELLED, actor_id=None,
                  reason=f"made up by self-study ({grant.reason})")
    flush(session, f"meeting {mt.id}")
    return Saved(outcome="made_up")


__all__ = ["DAYS", "FieldProblem", "Grant", "KeyReused", "LinkMade", "LinkNotValid", "Saved", "answer_notice",
           "confirm_study", "hash_token", "link_url", "make_link", "mask_phone", "member_page",
           "open_link", "purge_keys", "report_details", "revoke_links", "street_of",
           "task_link_once"]
