"""The rules of the task engine that campaigns, meetings and care share: what each outcome
code does (the outcome → effect table), the answers an outcome takes, attempts and
retries, when a member becomes unreachable, the days a visit may be recorded on.

`tasks.work.outcomes.record_outcome` applies the table (one function per named effect);
`outreach task record --help` and `task show` print it (`describe_outcomes`).

Pure Python: no SQLAlchemy, no Prefect. The volunteer's CLI imports it in remote mode
(talking to the ledger service) without loading the ORM.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable

from outreach.db.codes import CAMPAIGN_DEFAULTS, CampaignKind, MakeUpHow, Outcome, Residence
from outreach.db.errors import BadInput, shown
from outreach.i18n import N_, _
from outreach.tasks.kernel import rules as kernel
from outreach.tasks.kernel.rules import (NONE, PHONE_SHAPE, SAME, Limit, check_not_future,
                                         check_text, parse_yes_no)

K = CampaignKind

#: Failed attempts before a task counts as failed.
MAX_ATTEMPTS = Limit(1, 5, CAMPAIGN_DEFAULTS["max_attempts"], N_("attempts"))
#: Consecutive failed contacts that make a member unreachable.
UNREACHABLE_AFTER = 3

# --- the outcome table ------------------------------------------------------------------------
# What each outcome code does, as data: `tasks.work.outcomes.record_outcome` applies it (one
# function per named effect), `outreach task record --help` and `task show` print it
# (`describe_outcomes`), and the tests walk it against a hand-written copy.

_S, _P, _D, _E = K.SURVEY, K.PHONE_VISIT, K.DELIVERY, K.ESCALATION
#: Organisational life: a notice of a coming meeting (a call), a make-up study of a missed
#: one (a visit, a call or the material delivered).
_N, _M = K.NOTICE, K.MAKE_UP
#: Care (issue 13): a care visit to the member for a care occasion; and a coordinator's
#: transfer task (consider moving the membership of a member living away for more than six
#: months), which, like an escalation, is no contact with the member: ``reached`` on it
#: means "considered".
_C, _X = K.CARE_VISIT, K.TRANSFER
#: Tasks that try to reach the member themselves. An escalation is a coordinator's call to
#: the member's *family contact*: nothing that happens on it counts as contact with the
#: member (reached, failed or tried) — only the effects its column lists.
MEMBER_KINDS = frozenset({_S, _P, _D, _N, _M, _C})


class Effect(StrEnum):
    """What an outcome does to the member (and the member's other tasks)."""

    TRIED = "tried"
    CONTACT = "contact"
    REACHED = "reached"
    PHONE_VERIFIED = "phone_verified"
    SURVEY = "survey"
    ACTIVATE = "activate"
    FAILED_CONTACT = "failed_contact"
    PHONE_UNVERIFIED = "phone_unverified"
    FAMILY_VERIFIED = "family_verified"
    FAMILY_UNVERIFIED = "family_unverified"
    MOVED = "moved"
    DO_NOT_CONTACT = "do_not_contact"
    DECEASED = "deceased"
    #: Notice: the member's answer goes to their attendance (excused with the reason; or
    #: a note that they will join remotely / come).
    NOTICE_ANSWER = "notice_answer"
    #: Make-up study: the excused or absent member's attendance → made_up (`MAKE_UP_HOW`).
    MADE_UP = "made_up"
    #: Care: the care occasion the visit was for → visited (when within its window).
    CARE_VISITED = "care_visited"


#: What each effect means, in the words the help prints.
EFFECT_HELP: dict[Effect, str] = {
    Effect.TRIED: N_("last contact attempt today"),
    Effect.CONTACT: N_("failed contacts in a row back to 0"),
    Effect.REACHED: N_("last reached today"),
    Effect.PHONE_VERIFIED: N_("phone verified today"),
    Effect.SURVEY: N_("the answers are applied; record, address and family contact confirmed"),
    Effect.ACTIVATE: N_("unverified or unreachable member → active"),
    Effect.FAILED_CONTACT: N_("one more failed contact in a row "
                              "(unreachable after {n}, and a coordinator calls the family)"),
    Effect.PHONE_UNVERIFIED: N_("phone marked unverified (the next survey picks the member up)"),
    Effect.FAMILY_VERIFIED: N_("family contact verified today (the member stays as they are)"),
    Effect.FAMILY_UNVERIFIED: N_("family contact marked unverified"),
    Effect.MOVED: N_("residence, address and phone from the answers (no answers: away); "
                     "living away, their open deliveries are cancelled; moved_out=yes waits "
                     "for a coordinator's confirmation"),
    Effect.DO_NOT_CONTACT: N_("member → do_not_contact; their other open tasks are cancelled"),
    Effect.DECEASED: N_("waits for a second coordinator's confirmation (`member confirm`), "
                        "then → deceased and their other open tasks are cancelled"),
    Effect.NOTICE_ANSWER: N_("attendance=excused (needs reason): the member is excused from the "
                             "meeting; remote or present: noted on their attendance"),
    Effect.MADE_UP: N_("the member's excused or absent attendance → made up today"),
    Effect.CARE_VISITED: N_("the care occasion the visit was for → visited (within its window)"),
}


@dataclass(frozen=True)
class OutcomeRule:
    """One row of the outcome table.

    ``closes``: the task is done (else the outcome is an attempt: the task stays assigned,
    retried after the campaign's retry days, and fails when its attempts are used up).
    ``on``: the task kinds the outcome fits, each with the effects it has there.
    ``answers`` / ``required``: the answer keys it takes, and must have, per kind.
    """

    meaning: str
    closes: bool
    on: dict[str, tuple[Effect, ...]]
    answers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    required: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def fits(self, kind: str) -> bool:
        return str(kind) in self.on

    def effects(self, kind: str) -> tuple[Effect, ...]:
        return self.on[str(kind)]


def _on(kinds, *effects: Effect) -> dict[str, tuple[Effect, ...]]:
    """``effects`` on each of ``kinds``; a member's own task also counts as a try."""
    return {k: ((Effect.TRIED,) if k in MEMBER_KINDS else ()) + effects for k in kinds}


E_ = Effect
#: Survey answers a survey that reached the member takes, and those it must have.
SURVEY_ANSWERS = ("phone", "address", "residence", "homebound", "family_contact_name",
                  "family_contact_phone", "needs", "interests")
SURVEY_REQUIRED = ("phone", "address", "residence", "homebound")
#: What a "moved" outcome takes (on every kind).
MOVED_ANSWERS = ("residence", "address", "phone", "moved_out")
#: What a notice that reached the member takes: their answer about the meeting.
NOTICE_ANSWERS = ("attendance", "reason")
_ALL = (_S, _P, _D, _E, _N, _M, _C, _X)
_CALLS = (_S, _P, _E, _N, _M, _C)

OUTCOMES: dict[Outcome, OutcomeRule] = {
    Outcome.REACHED: OutcomeRule(
        N_("spoke with the member (escalation: with the family contact; transfer: the "
           "coordinator considered it)"), True,
        {**_on((_S,), E_.CONTACT, E_.REACHED, E_.PHONE_VERIFIED, E_.SURVEY, E_.ACTIVATE),
         **_on((_P,), E_.CONTACT, E_.REACHED, E_.PHONE_VERIFIED, E_.ACTIVATE),
         **_on((_E,), E_.FAMILY_VERIFIED),
         **_on((_N,), E_.CONTACT, E_.REACHED, E_.PHONE_VERIFIED, E_.ACTIVATE,
               E_.NOTICE_ANSWER),
         **_on((_M,), E_.CONTACT, E_.REACHED, E_.PHONE_VERIFIED, E_.ACTIVATE, E_.MADE_UP),
         **_on((_X,))},
        answers={_S: SURVEY_ANSWERS, _N: NOTICE_ANSWERS}, required={_S: SURVEY_REQUIRED}),
    Outcome.DELIVERED: OutcomeRule(
        N_("handed the material to the member"), True,
        {**_on((_D,), E_.CONTACT, E_.REACHED), **_on((_M,), E_.CONTACT, E_.REACHED, E_.MADE_UP)}),
    Outcome.DELIVERED_TO_FAMILY: OutcomeRule(
        N_("left the material with the member's family"), True,
        {**_on((_D,), E_.CONTACT), **_on((_M,), E_.CONTACT, E_.MADE_UP)}),
    Outcome.VISITED: OutcomeRule(
        N_("visited the member (make-up: and went through the material together)"), True,
        {**_on((_M,), E_.CONTACT, E_.REACHED, E_.MADE_UP),
         **_on((_C,), E_.CONTACT, E_.REACHED, E_.CARE_VISITED)}),
    Outcome.GIFT_DELIVERED: OutcomeRule(
        N_("visited the member and brought a gift or the organisation's greetings"), True,
        _on((_C,), E_.CONTACT, E_.REACHED, E_.CARE_VISITED)),
    Outcome.HELP_ARRANGED: OutcomeRule(
        N_("visited the member and arranged help (a carer, a hospital visit, an allowance)"), True,
        _on((_C,), E_.CONTACT, E_.REACHED, E_.CARE_VISITED)),
    Outcome.NO_ANSWER: OutcomeRule(
        N_("nobody answered"), False,
        {**_on((_S, _P, _N, _M, _C), E_.FAILED_CONTACT), **_on((_E,))}),
    Outcome.NOT_HOME: OutcomeRule(
        N_("nobody at home"), False, _on((_S, _D, _M, _C), E_.FAILED_CONTACT)),
    Outcome.LEFT_MESSAGE: OutcomeRule(
        N_("left a message, no answer yet"), False,
        {**_on((_S, _P, _N, _M, _C), E_.FAILED_CONTACT), **_on((_E,))}),
    Outcome.CALLBACK_REQUESTED: OutcomeRule(
        N_("asked to call back later"), False, _on(_CALLS)),
    Outcome.WRONG_NUMBER: OutcomeRule(
        N_("the number is wrong"), False,
        {**_on((_S, _P, _N, _M, _C), E_.FAILED_CONTACT, E_.PHONE_UNVERIFIED),
         **_on((_E,), E_.FAMILY_UNVERIFIED)}),
    Outcome.MOVED: OutcomeRule(
        N_("the member lives somewhere else now"), True, _on(_ALL, E_.MOVED),
        answers={k: MOVED_ANSWERS for k in _ALL}),
    Outcome.REFUSED: OutcomeRule(
        N_("did not want this visit (no effect on the member)"), True, _on(_ALL)),
    Outcome.DO_NOT_CONTACT: OutcomeRule(
        N_("asked never to be contacted again"), True, _on(_ALL, E_.DO_NOT_CONTACT)),
    Outcome.DECEASED: OutcomeRule(
        N_("the member has died"), True, _on(_ALL, E_.DECEASED)),
    Outcome.INACCESSIBLE: OutcomeRule(
        N_("could not get to the door (no effect on the member)"), False, _on((_S, _D, _M, _C))),
    Outcome.TEMPORARILY_AWAY: OutcomeRule(
        N_("away for a while (no effect on the member)"), False, _on(_ALL)),
}

#: What `outreach task done` records for each kind.
DONE_OUTCOME: dict[str, Outcome] = {_S: Outcome.REACHED, _P: Outcome.REACHED,
                                    _D: Outcome.DELIVERED, _E: Outcome.REACHED,
                                    _N: Outcome.REACHED, _M: Outcome.DELIVERED,
                                    _C: Outcome.VISITED, _X: Outcome.REACHED}
#: How a make-up study was done, by the outcome that closed it (`Effect.MADE_UP`).
MAKE_UP_HOW: dict[Outcome, MakeUpHow] = {
    Outcome.REACHED: MakeUpHow.PHONE, Outcome.DELIVERED: MakeUpHow.MATERIALS,
    Outcome.DELIVERED_TO_FAMILY: MakeUpHow.MATERIALS, Outcome.VISITED: MakeUpHow.VISIT}


def make_up_how(*, homebound: bool, away: bool) -> MakeUpHow:
    """How a make-up study is meant to be done (issue 12): a visit when the member is
    homebound, a call when they live away, the meeting's material brought otherwise."""
    if homebound:
        return MakeUpHow.VISIT
    return MakeUpHow.PHONE if away else MakeUpHow.MATERIALS


#: A notice's answer ``attendance``: what the member says they will do.
NOTICE_ATTENDANCE = ("present", "remote", "excused")
#: Which outcomes fit which kind of task (from the table).
OUTCOMES_BY_KIND: dict[str, frozenset[Outcome]] = {
    k: frozenset(o for o, r in OUTCOMES.items() if r.fits(k)) for k in _ALL}
#: Outcomes that close the task as done.
CLOSING = frozenset(o for o, r in OUTCOMES.items() if r.closes)
#: Outcomes that are a successful contact with the member on their own tasks (reports).
SUCCESSFUL_CONTACT = frozenset(o for o, r in OUTCOMES.items()
                               if any(Effect.CONTACT in r.on.get(k, ()) for k in MEMBER_KINDS))


def check_outcome(kind: str, outcome: str) -> Outcome:
    """The outcome code ``outcome`` (any case, spaces around) if it fits a ``kind`` task."""
    try:
        code = Outcome(str(outcome).strip().lower())
    except ValueError:
        raise BadInput(_("unknown outcome {value}; one of: {codes}").format(
            value=shown(outcome), codes=", ".join(o.value for o in Outcome))) from None
    if not OUTCOMES[code].fits(kind):
        raise BadInput(_("outcome {code} does not fit a {kind} task; one of: {codes}").format(
            code=code, kind=kind,
            codes=", ".join(sorted(o.value for o in OUTCOMES_BY_KIND[str(kind)]))))
    return code


def attempts_exhausted(attempts, max_attempts):
    """The task's attempts are used up (it fails). Works on ints and on SQL columns alike."""
    return attempts >= max_attempts


#: Member states in which failed contacts make a member unreachable.
UNREACHABLE_FROM = ("unverified", "active")


def becomes_unreachable(failed_contacts, status):
    """N failed contacts in a row make an unverified or active member unreachable.

    On plain values a bool; on SQL columns (``Member.failed_contacts``, ``Member.status``)
    the same rule as a WHERE clause.
    """
    many = failed_contacts >= UNREACHABLE_AFTER
    if hasattr(status, "in_"):
        return many & status.in_(UNREACHABLE_FROM)
    return bool(many) and str(status) in UNREACHABLE_FROM


def check_recorded_day(day: dt.date, *, not_before: dt.date,
                       what: str = N_("the date")) -> dt.date:
    """A day on which something happened: not in the future (`check_not_future`) and not
    before ``not_before`` (the day the task was made: ``OutreachTask.created_at``)."""
    check_not_future(day, what)
    if day < not_before:
        raise BadInput(_("{what} {day} is before the task existed (made {made})").format(
            what=_(what), day=day, made=not_before))
    return day


def local_day(at: dt.datetime) -> dt.date:
    """The organisation's day (`db.settings.timezone`) of ``at``, a naive UTC timestamp as
    the ledger stores them (``created_at``). Its UTC date is the wrong day for hours on
    end: a task made at 00:30 UTC in New York's evening is a task of the day before, and a
    visit recorded that evening (the local today) was refused as "before the task
    existed"."""
    from zoneinfo import ZoneInfo

    from outreach.db import settings

    return at.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(settings.timezone())).date()


def made_at(day: dt.date) -> dt.datetime:
    """When a task planned "on" ``day`` counts as made (``OutreachTask.created_at``, UTC):
    now — or, for a plan dated before the real today, the start of that day, so that the
    visits of a back-dated plan can be recorded on its days (`check_recorded_day`)."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return now if day >= kernel.real_today() else dt.datetime.combine(day, dt.time())


def describe_outcomes(kind: str | None = None, *, brief: bool = False) -> str:
    """The outcome table in words: per kind, its outcomes and what each does; ``brief``:
    one line per kind, its outcomes only (`outreach task record --help`)."""
    kinds = [str(kind)] if kind else [str(x) for x in _ALL]
    if brief:
        return "\n".join(f"{k}: " + ", ".join(c.value for c, r in OUTCOMES.items() if r.fits(k))
                         + " " + _("(done = {code})").format(code=DONE_OUTCOME[k])
                         for k in kinds)
    lines = []
    for k in kinds:
        lines.append(_("{kind} (done = {code}):").format(kind=k, code=DONE_OUTCOME[k]))
        for code, rule in OUTCOMES.items():
            if not rule.fits(k):
                continue
            does = [_(EFFECT_HELP[e]).format(n=UNREACHABLE_AFTER) for e in rule.effects(k)
                    if e != Effect.TRIED]
            end = _("closes the task") if rule.closes else _("an attempt, tried again later")
            takes = rule.answers.get(k)
            lines.append(f"  {code.value:20} {_(rule.meaning)}; {end}"
                         + (f"; {'; '.join(does)}" if does else "")
                         + (" " + _("(answers: {keys})").format(keys=", ".join(takes))
                            if takes else ""))
    return "\n".join(lines)


# --- answers ----------------------------------------------------------------------------------
# Survey (and moved) answers, one check per key, shared by the CLI (each answer as it is
# typed), the results import and `record_outcome`. ``same`` keeps what is on record, for
# every key; ``none`` clears an optional field and is refused for the others; an empty
# value is no answer.

#: What a phone number may be: the ledger import's characters (`tasks.kernel.csvfile`), 3–40 of
#: them, at least one digit — so an answer always exports and imports back.
_PHONE_LEN = (3, 40)


def _phone(key: str, text: str) -> str:
    low, high = _PHONE_LEN
    if not (low <= len(text) <= high and PHONE_SHAPE.match(text)
            and any(c.isdigit() for c in text)):
        raise BadInput(_("answer {key} is not a phone number").format(key=key))
    return text


def _text(key: str, text: str) -> str:
    return text


def _residence(key: str, text: str) -> str:
    low = text.lower()
    if low not in (Residence.LOCAL, Residence.AWAY):
        raise BadInput(_("answer {key} must be local, away or same").format(key=key))
    return low


def _yes_no(key: str, text: str) -> str:
    return "yes" if parse_yes_no(text, _("answer {key}").format(key=key)) else "no"


def _attendance(key: str, text: str) -> str:
    low = text.lower()
    if low not in NOTICE_ATTENDANCE:
        raise BadInput(_("answer {key} must be one of: {values}").format(
            key=key, values=", ".join(NOTICE_ATTENDANCE)))
    return low


@dataclass(frozen=True)
class AnswerKey:
    meaning: str
    check: Callable[[str, str], str]
    #: ``none`` clears it (an optional field); for the others ``none`` is refused.
    clearable: bool
    #: The most characters (the ledger's column, or 500 for free text).
    limit: int = 500


ANSWERS: dict[str, AnswerKey] = {
    "phone": AnswerKey(N_("the member's phone number"), _phone, False, 40),
    "address": AnswerKey(N_("where the member lives now"), _text, False),
    "residence": AnswerKey(N_("local or away"), _residence, False),
    "homebound": AnswerKey(N_("yes or no (y/n)"), _yes_no, False),
    "family_contact_name": AnswerKey(N_("a family member to call"), _text, True, 200),
    "family_contact_phone": AnswerKey(N_("that family member's phone"), _phone, True, 40),
    "needs": AnswerKey(N_("what the member needs (free text)"), _text, True),
    "interests": AnswerKey(N_("comma-separated interests"), _text, True),
    "moved_out": AnswerKey(N_("yes if the member left the organisation (y/n)"), _yes_no, False),
    "attendance": AnswerKey(N_("present (will come), remote (will join by phone or video) or "
                               "excused (give the reason)"), _attendance, False, 24),
    "reason": AnswerKey(N_("why the member cannot come (free text)"), _text, False),
}


def answer_help(key: str) -> str:
    """``phone: the member's phone number ('same' keeps it)`` — for prompts and help."""
    spec = ANSWERS[key]
    if spec.clearable:
        return _("{meaning} ('same' keeps what is on record, 'none' clears it)").format(
            meaning=_(spec.meaning))
    return _("{meaning} ('same' keeps what is on record)").format(meaning=_(spec.meaning))


def check_answer(key: str, value: str) -> str | None:
    """One answer, checked and normalised: `SAME`, None (cleared) or the value to store.

    Errors name the key, never repeat the value (it may be a phone number).
    """
    spec = ANSWERS.get(key)
    if spec is None:
        raise BadInput(_("there is no answer {key}; answers are: {keys}").format(
            key=shown(key), keys=", ".join(ANSWERS)))
    text = str(value).strip()
    if not text:
        raise BadInput(_("answer {key} is empty: {help}").format(key=key,
                                                                 help=answer_help(key)))
    low = text.lower()
    if low == SAME:
        return SAME
    if low == NONE:
        if spec.clearable:
            return None
        raise BadInput(_("answer {key} cannot be 'none': give {meaning} or 'same'").format(
            key=key, meaning=_(spec.meaning)))
    check_text(text, _("answer {key}").format(key=key))
    if len(text) > spec.limit:
        raise BadInput(_("answer {key} is too long ({limit} characters at most) or contains "
                         "control characters").format(key=key, limit=spec.limit))
    return spec.check(key, text)


def answers_taken(kind: str, outcome: Outcome) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(keys taken, keys required) for an outcome on a kind of task."""
    rule = OUTCOMES[Outcome(outcome)]
    return rule.answers.get(str(kind), ()), rule.required.get(str(kind), ())


def missing_answers(kind: str, outcome: Outcome, answers: dict[str, str | None]) -> list[str]:
    """Required answer keys not given (an empty value is no answer)."""
    required = answers_taken(kind, outcome)[1]
    return [k for k in required if k not in answers
            or (answers[k] is not None and not str(answers[k]).strip())]


def answer_errors(answers: dict[str, str]) -> dict[str, str]:
    """Each answer judged alone by `check_answer`: key → its problem, for those that have
    one (a form shows each next to its field; the phone pages check a field as it is
    typed). An empty answer is no answer here, not a problem."""
    problems = {}
    for key, value in answers.items():
        if str(value).strip():
            try:
                check_answer(key, value)
            except BadInput as exc:
                problems[key] = str(exc)
    return problems


def check_answers(kind: str, outcome: Outcome,
                  answers: dict[str, str]) -> dict[str, str | None]:
    """All answers of one outcome, checked: keys it takes, each value (`check_answer`),
    required ones present. Returns them normalised (empty ones dropped)."""
    taken = answers_taken(kind, outcome)[0]
    out: dict[str, str | None] = {}
    for key, value in answers.items():
        if key not in taken:
            what = ", ".join(taken) if taken else _("none")
            raise BadInput(_("answer {key} does not fit outcome {outcome} of a {kind} task "
                             "(answers it takes: {keys})").format(
                                 key=shown(key), outcome=outcome, kind=kind, keys=what))
        if str(value).strip():
            out[key] = check_answer(key, value)
    if out.get("attendance") == "excused" and not out.get("reason") \
            or out.get("reason") == SAME:
        raise BadInput(_("an excused member needs answer reason (why they cannot come)"))
    missing = missing_answers(kind, outcome, out)
    if missing:
        raise BadInput(_("a survey that reached the member needs answers: {answers}").format(
            answers=", ".join(f"{k} ({answer_help(k)})" for k in missing)))
    return out


def parse_answers(pairs: list[str]) -> dict[str, str]:
    """``["phone=555 1234", "homebound=no"]`` → dict; refuses malformed or repeated keys."""
    out: dict[str, str] = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or not key:
            raise BadInput(_("an answer must look like KEY=VALUE, not {value}").format(
                value=shown(item)))
        if key in out:
            raise BadInput(_("--answer {key} is given twice").format(key=key))
        out[key] = value.strip()
    return out
