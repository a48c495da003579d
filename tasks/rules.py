"""Every rule and limit of outreach, in one place.

The CLI's options, the flows' pydantic ``Field``s, the importers, the ledger service and
the service functions in `tasks/` import what they check from here, so that a limit (due
days, attempts, windows), a parser (dates, periods, yes/no, ``same``/``none``) or the
outcome → effect table is written once and read everywhere.

Pure Python: no SQLAlchemy, no Prefect. The volunteer's CLI imports it in remote mode
(talking to the ledger service) without loading the ORM.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable

from db.codes import CampaignKind, Outcome, Residence
from db.errors import BadInput, shown

K = CampaignKind


# --- limits ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    """An inclusive integer range with a default, e.g. due days 1–90, default 14."""

    low: int
    high: int
    default: int
    what: str

    def check(self, value: int) -> int:
        if not isinstance(value, int) or isinstance(value, bool) \
                or not self.low <= value <= self.high:
            raise BadInput(f"{self.what} must be between {self.low} and {self.high}, "
                           f"not {str(value)[:20]}")
        return value


#: A planned task is due this many days after planning.
DUE_DAYS = Limit(1, 90, 14, "due days")
#: Failed attempts before a task counts as failed.
MAX_ATTEMPTS = Limit(1, 5, 3, "attempts")
#: Days until a failed attempt is tried again.
RETRY_DAYS = Limit(1, 30, 2, "retry days")
#: Members per planning batch (one Prefect task each).
BATCH_SIZE = Limit(100, 200_000, 100_000, "the batch size")
#: A volunteer's most open tasks at once.
CAPACITY = Limit(0, 10_000, 20, "capacity")
#: Consecutive failed contacts that make a member unreachable.
UNREACHABLE_AFTER = 3

#: Targeting windows a coordinator may choose, per campaign kind, and the default:
#: survey — not confirmed within N days; phone visit — not reached within N days.
WINDOWS: dict[str, tuple[tuple[int, ...], int]] = {
    K.SURVEY: ((180, 365, 730), 365),
    K.PHONE_VISIT: ((14, 30, 60, 90), 30),
}


def check_window(kind: str, days: int | None) -> int | None:
    """``days`` if the kind takes a window and it is one of the allowed choices."""
    if days is None:
        return None
    choices = WINDOWS.get(str(kind), ((), 0))[0]
    if days not in choices:
        allowed = ", ".join(str(d) for d in choices) or "none"
        raise BadInput(f"the window for {kind} takes one of: {allowed} (days)")
    return days


# --- dates and periods ----------------------------------------------------------------------

#: Dates people type or write in a file: outside these years a date is a typo (and far
#: enough from the ends of Python's calendar that date arithmetic cannot overflow).
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2100, 12, 31)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
#: A month: YYYY-MM, years 1900–2100.
PERIOD_PATTERN = r"^(19\d\d|20\d\d|2100)-(0[1-9]|1[0-2])$"
_PERIOD = re.compile(PERIOD_PATTERN)
#: The same, or empty (flow forms: empty means this month).
PERIOD_OR_EMPTY_PATTERN = r"^((19\d\d|20\d\d|2100)-(0[1-9]|1[0-2]))?$"


def parse_day(value: str, what: str) -> dt.date:
    """A date written YYYY-MM-DD between 1900 and 2100, else BadInput naming ``what``.

    The value itself is not repeated: a shifted CSV cell can hold a phone number.
    """
    text = value.strip()
    try:
        if not _DAY.fullmatch(text):
            raise ValueError
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{what} is not a date YYYY-MM-DD") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadInput(f"{what} {day} is not a possible date (years 1900 to 2100)")
    return day


def check_period(period: str) -> str:
    """``period`` if it reads YYYY-MM, else BadInput."""
    if not isinstance(period, str) or not _PERIOD.match(period.strip()):
        raise BadInput(f"period must read YYYY-MM (for example 2026-11), "
                       f"not {str(period)[:20]!r}")
    return period.strip()


def month_bounds(period: str | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """First and last day of a ``YYYY-MM`` period (default: the month of ``today``)."""
    if period is None:
        year, month = today.year, today.month
    else:
        year, month = (int(x) for x in check_period(period).split("-"))
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def period_end(period: str) -> dt.date:
    """The last day of a YYYY-MM period."""
    return month_bounds(period, FIRST_DAY)[1]


#: How far past the real today a date of something that happened may be: the machine's
#: today is UTC-ish, the person's may already be tomorrow (time zones).
FUTURE_SLACK = dt.timedelta(days=1)


def real_today() -> dt.date:
    """Today by the machine's clock (one place, so tests and rules agree)."""
    return dt.date.today()


def check_not_future(day: dt.date, what: str) -> dt.date:
    """``day`` if it is not after the real today plus one day (time zones), else BadInput.

    For every date that records what happened or acts on it (a visit's date, the day a
    follow-up sweep expires and fails tasks): a date in the future would close windows and
    take members out of campaigns that have not happened yet. Planning dates are not
    checked: a coordinator may prepare next month's run.
    """
    latest = real_today() + FUTURE_SLACK
    if day > latest:
        raise BadInput(f"{what} {day} is in the future (the latest possible is {latest})")
    return day


# --- yes / no, same / none --------------------------------------------------------------------

YES = frozenset({"yes", "y", "true", "1"})
NO = frozenset({"no", "n", "false", "0"})
#: An answer that keeps what is on record.
SAME = "same"
#: An answer that clears an optional field.
NONE = "none"


def parse_yes_no(value: str, what: str, *, empty: bool | None = None) -> bool:
    """yes/y/true/1 → True, no/n/false/0 → False (any case); ``empty`` for ''."""
    low = value.strip().lower()
    if low in YES:
        return True
    if low in NO:
        return False
    if low == "" and empty is not None:
        return empty
    raise BadInput(f"{what} must be yes or no (y/n, true/false, 1/0)")


# --- the outcome table ------------------------------------------------------------------------
# What each outcome code does, as data: `tasks.outcomes.record_outcome` applies it (one
# function per named effect), `outreach task record --help` and `task show` print it
# (`describe_outcomes`), and the tests walk it against a hand-written copy.

_S, _P, _D, _E = K.SURVEY, K.PHONE_VISIT, K.DELIVERY, K.ESCALATION
#: Tasks that try to reach the member themselves. An escalation is a coordinator's call to
#: the member's *family contact*: nothing that happens on it counts as contact with the
#: member (reached, failed or tried) — only the effects its column lists.
MEMBER_KINDS = frozenset({_S, _P, _D})


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


#: What each effect means, in the words the help prints.
EFFECT_HELP: dict[Effect, str] = {
    Effect.TRIED: "last contact attempt today",
    Effect.CONTACT: "failed contacts in a row back to 0",
    Effect.REACHED: "last reached today",
    Effect.PHONE_VERIFIED: "phone verified today",
    Effect.SURVEY: "the answers are applied; record, address and family contact confirmed",
    Effect.ACTIVATE: "unverified or unreachable member → active",
    Effect.FAILED_CONTACT: "one more failed contact in a row "
                           "(unreachable after {n}, and a coordinator calls the family)",
    Effect.PHONE_UNVERIFIED: "phone marked unverified (the next survey picks the member up)",
    Effect.FAMILY_VERIFIED: "family contact verified today (the member stays as they are)",
    Effect.FAMILY_UNVERIFIED: "family contact marked unverified",
    Effect.MOVED: "residence, address and phone from the answers (no answers: away); "
                  "living away, their open deliveries are cancelled; moved_out=yes waits "
                  "for a coordinator's confirmation",
    Effect.DO_NOT_CONTACT: "member → do_not_contact; their other open tasks are cancelled",
    Effect.DECEASED: "waits for a second coordinator's confirmation (`member confirm`), "
                     "then → deceased and their other open tasks are cancelled",
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
_ALL = (_S, _P, _D, _E)
_CALLS = (_S, _P, _E)

OUTCOMES: dict[Outcome, OutcomeRule] = {
    Outcome.REACHED: OutcomeRule(
        "spoke with the member (escalation: with the family contact)", True,
        {**_on((_S,), E_.CONTACT, E_.REACHED, E_.PHONE_VERIFIED, E_.SURVEY, E_.ACTIVATE),
         **_on((_P,), E_.CONTACT, E_.REACHED, E_.PHONE_VERIFIED, E_.ACTIVATE),
         **_on((_E,), E_.FAMILY_VERIFIED)},
        answers={_S: SURVEY_ANSWERS}, required={_S: SURVEY_REQUIRED}),
    Outcome.DELIVERED: OutcomeRule(
        "handed the material to the member", True, _on((_D,), E_.CONTACT, E_.REACHED)),
    Outcome.DELIVERED_TO_FAMILY: OutcomeRule(
        "left the material with the member's family", True, _on((_D,), E_.CONTACT)),
    Outcome.NO_ANSWER: OutcomeRule(
        "nobody answered", False,
        {**_on((_S, _P), E_.FAILED_CONTACT), **_on((_E,))}),
    Outcome.NOT_HOME: OutcomeRule(
        "nobody at home", False, _on((_S, _D), E_.FAILED_CONTACT)),
    Outcome.LEFT_MESSAGE: OutcomeRule(
        "left a message, no answer yet", False,
        {**_on((_S, _P), E_.FAILED_CONTACT), **_on((_E,))}),
    Outcome.CALLBACK_REQUESTED: OutcomeRule(
        "asked to call back later", False, _on(_CALLS)),
    Outcome.WRONG_NUMBER: OutcomeRule(
        "the number is wrong", False,
        {**_on((_S, _P), E_.FAILED_CONTACT, E_.PHONE_UNVERIFIED),
         **_on((_E,), E_.FAMILY_UNVERIFIED)}),
    Outcome.MOVED: OutcomeRule(
        "the member lives somewhere else now", True, _on(_ALL, E_.MOVED),
        answers={k: MOVED_ANSWERS for k in _ALL}),
    Outcome.REFUSED: OutcomeRule(
        "did not want this visit (no effect on the member)", True, _on(_ALL)),
    Outcome.DO_NOT_CONTACT: OutcomeRule(
        "asked never to be contacted again", True, _on(_ALL, E_.DO_NOT_CONTACT)),
    Outcome.DECEASED: OutcomeRule(
        "the member has died", True, _on(_ALL, E_.DECEASED)),
    Outcome.INACCESSIBLE: OutcomeRule(
        "could not get to the door (no effect on the member)", False, _on((_S, _D))),
    Outcome.TEMPORARILY_AWAY: OutcomeRule(
        "away for a while (no effect on the member)", False, _on(_ALL)),
}

#: What `outreach task done` records for each kind.
DONE_OUTCOME: dict[str, Outcome] = {_S: Outcome.REACHED, _P: Outcome.REACHED,
                                    _D: Outcome.DELIVERED, _E: Outcome.REACHED}
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
        raise BadInput(f"unknown outcome {shown(outcome)}; one of: "
                       + ", ".join(o.value for o in Outcome)) from None
    if not OUTCOMES[code].fits(kind):
        raise BadInput(f"outcome {code} does not fit a {kind} task; one of: "
                       + ", ".join(sorted(o.value for o in OUTCOMES_BY_KIND[str(kind)])))
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


def check_recorded_day(day: dt.date, *, not_before: dt.date, what: str = "the date") -> dt.date:
    """A day on which something happened: not in the future (`check_not_future`) and not
    before ``not_before`` (the day the task was made: ``OutreachTask.created_at``)."""
    check_not_future(day, what)
    if day < not_before:
        raise BadInput(f"{what} {day} is before the task existed (made {not_before})")
    return day


def made_at(day: dt.date) -> dt.datetime:
    """When a task planned "on" ``day`` counts as made (``OutreachTask.created_at``, UTC):
    now — or, for a plan dated before the real today, the start of that day, so that the
    visits of a back-dated plan can be recorded on its days (`check_recorded_day`)."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return now if day >= real_today() else dt.datetime.combine(day, dt.time())


def describe_outcomes(kind: str | None = None, *, brief: bool = False) -> str:
    """The outcome table in words: per kind, its outcomes and what each does; ``brief``:
    one line per kind, its outcomes only (`outreach task record --help`)."""
    kinds = [str(kind)] if kind else [str(x) for x in _ALL]
    if brief:
        return "\n".join(f"{k}: " + ", ".join(c.value for c, r in OUTCOMES.items() if r.fits(k))
                         + f" (done = {DONE_OUTCOME[k]})" for k in kinds)
    lines = []
    for k in kinds:
        lines.append(f"{k} (done = {DONE_OUTCOME[k]}):")
        for code, rule in OUTCOMES.items():
            if not rule.fits(k):
                continue
            does = [EFFECT_HELP[e].format(n=UNREACHABLE_AFTER) for e in rule.effects(k)
                    if e != Effect.TRIED]
            end = "closes the task" if rule.closes else "an attempt, tried again later"
            takes = rule.answers.get(k)
            lines.append(f"  {code.value:20} {rule.meaning}; {end}"
                         + (f"; {'; '.join(does)}" if does else "")
                         + (f" (answers: {', '.join(takes)})" if takes else ""))
    return "\n".join(lines)


# --- answers ----------------------------------------------------------------------------------
# Survey (and moved) answers, one check per key, shared by the CLI (each answer as it is
# typed), the results import and `record_outcome`. ``same`` keeps what is on record, for
# every key; ``none`` clears an optional field and is refused for the others; an empty
# value is no answer.

#: What a phone number may be: the ledger import's characters (`tasks.csvfile`), 3–40 of
#: them, at least one digit — so an answer always exports and imports back.
_PHONE_LEN = (3, 40)


def _phone(key: str, text: str) -> str:
    from tasks.csvfile import PHONE_SHAPE  # (csvfile imports this module)

    low, high = _PHONE_LEN
    if not (low <= len(text) <= high and PHONE_SHAPE.match(text)
            and any(c.isdigit() for c in text)):
        raise BadInput(f"answer {key} is not a phone number")
    return text


def _text(key: str, text: str) -> str:
    return text


def _residence(key: str, text: str) -> str:
    low = text.lower()
    if low not in (Residence.LOCAL, Residence.AWAY):
        raise BadInput(f"answer {key} must be local, away or same")
    return low


def _yes_no(key: str, text: str) -> str:
    return "yes" if parse_yes_no(text, f"answer {key}") else "no"


@dataclass(frozen=True)
class AnswerKey:
    meaning: str
    check: Callable[[str, str], str]
    #: ``none`` clears it (an optional field); for the others ``none`` is refused.
    clearable: bool
    #: The most characters (the ledger's column, or 500 for free text).
    limit: int = 500


ANSWERS: dict[str, AnswerKey] = {
    "phone": AnswerKey("the member's phone number", _phone, False, 40),
    "address": AnswerKey("where the member lives now", _text, False),
    "residence": AnswerKey("local or away", _residence, False),
    "homebound": AnswerKey("yes or no (y/n)", _yes_no, False),
    "family_contact_name": AnswerKey("a family member to call", _text, True, 200),
    "family_contact_phone": AnswerKey("that family member's phone", _phone, True, 40),
    "needs": AnswerKey("what the member needs (free text)", _text, True),
    "interests": AnswerKey("comma-separated interests", _text, True),
    "moved_out": AnswerKey("yes if the member left the organisation (y/n)", _yes_no, False),
}


def answer_help(key: str) -> str:
    """``phone: the member's phone number ('same' keeps it)`` — for prompts and help."""
    spec = ANSWERS[key]
    extra = f"'{SAME}' keeps what is on record" + (f", '{NONE}' clears it"
                                                  if spec.clearable else "")
    return f"{spec.meaning} ({extra})"


def check_answer(key: str, value: str) -> str | None:
    """One answer, checked and normalised: `SAME`, None (cleared) or the value to store.

    Errors name the key, never repeat the value (it may be a phone number).
    """
    spec = ANSWERS.get(key)
    if spec is None:
        raise BadInput(f"there is no answer {shown(key)}; answers are: " + ", ".join(ANSWERS))
    text = str(value).strip()
    if not text:
        raise BadInput(f"answer {key} is empty: {answer_help(key)}")
    low = text.lower()
    if low == SAME:
        return SAME
    if low == NONE:
        if spec.clearable:
            return None
        raise BadInput(f"answer {key} cannot be '{NONE}': give {spec.meaning} or '{SAME}'")
    from tasks.csvfile import CONTROL  # (csvfile imports this module)

    if len(text) > spec.limit or CONTROL.search(text):
        raise BadInput(f"answer {key} is too long ({spec.limit} characters at most) "
                       "or contains control characters")
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


def check_answers(kind: str, outcome: Outcome,
                  answers: dict[str, str]) -> dict[str, str | None]:
    """All answers of one outcome, checked: keys it takes, each value (`check_answer`),
    required ones present. Returns them normalised (empty ones dropped)."""
    taken, _ = answers_taken(kind, outcome)
    out: dict[str, str | None] = {}
    for key, value in answers.items():
        if key not in taken:
            what = ", ".join(taken) if taken else "none"
            raise BadInput(f"answer {shown(key)} does not fit outcome {outcome} of a {kind} "
                           f"task (answers it takes: {what})")
        if str(value).strip():
            out[key] = check_answer(key, value)
    missing = missing_answers(kind, outcome, out)
    if missing:
        raise BadInput("a survey that reached the member needs answers: "
                       + ", ".join(f"{k} ({answer_help(k)})" for k in missing))
    return out


def parse_answers(pairs: list[str]) -> dict[str, str]:
    """``["phone=555 1234", "homebound=no"]`` → dict; refuses malformed or repeated keys."""
    out: dict[str, str] = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep or not key:
            raise BadInput(f"an answer must look like KEY=VALUE, not {shown(item)}")
        if key in out:
            raise BadInput(f"--answer {key} is given twice")
        out[key] = value.strip()
    return out
