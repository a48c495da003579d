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
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable

from outreach.db.codes import CampaignKind, MakeUpHow, Outcome, Residence
from outreach.db.errors import BadInput, shown
from outreach.i18n import N_, _

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
            raise BadInput(_("{what} must be between {low} and {high}, not {value}").format(
                what=_(self.what), low=self.low, high=self.high, value=str(value)[:20]))
        return value


#: A planned task is due this many days after planning.
DUE_DAYS = Limit(1, 90, 14, N_("due days"))
#: Failed attempts before a task counts as failed.
MAX_ATTEMPTS = Limit(1, 5, 3, N_("attempts"))
#: Days until a failed attempt is tried again.
RETRY_DAYS = Limit(1, 30, 2, N_("retry days"))
#: Members per planning batch (one Prefect task each).
BATCH_SIZE = Limit(100, 200_000, 100_000, N_("the batch size"))
#: Shards of a campaign run planned in parallel on PostgreSQL, each its own flow run on
#: the work pool (`tasks.shards`); 0: one per online worker of the pool.
SHARDS = Limit(0, 64, 0, N_("shards"))
#: A volunteer's most open tasks at once.
CAPACITY = Limit(0, 10_000, 20, N_("capacity"))
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
        allowed = ", ".join(str(d) for d in choices) or _("none")
        raise BadInput(_("the window for {kind} takes one of: {allowed} (days)").format(
            kind=kind, allowed=allowed))
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
        raise BadInput(_("{what} is not a date YYYY-MM-DD").format(what=_(what))) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadInput(_("{what} {day} is not a possible date (years 1900 to 2100)").format(
            what=_(what), day=day))
    return day


#: Dates as a ledger file may hold them besides YYYY-MM-DD (issue 14): 2026/11/30 (also
#: 2026/1/5) and 2026年11月30日 (also 2026年1月5日), ASCII digits only.
_FILE_DAY = re.compile(r"([0-9]{4})/([0-9]{1,2})/([0-9]{1,2})"
                       r"|([0-9]{4})年([0-9]{1,2})月([0-9]{1,2})日")


def parse_file_day(value: str, what: str) -> dt.date:
    """A date in a ledger file: YYYY-MM-DD, YYYY/MM/DD or YYYY年MM月DD日 (month and day with
    one or two digits in the last two), years 1900 to 2100; else BadInput naming ``what``
    (never repeating the value)."""
    from outreach.i18n import _

    text = value.strip()
    m = _FILE_DAY.fullmatch(text)
    if m is None:
        if _DAY.fullmatch(text) and text.isascii():
            return parse_day(text, what)
        raise BadInput(_("{what} is not a date (YYYY-MM-DD, YYYY/MM/DD or YYYY年MM月DD日)")
                       .format(what=what))
    year, month, day_ = (int(g) for g in m.groups() if g is not None)
    try:
        day = dt.date(year, month, day_)
    except ValueError:
        raise BadInput(_("{what} is not a date (YYYY-MM-DD, YYYY/MM/DD or YYYY年MM月DD日)")
                       .format(what=what)) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadInput(_("{what} {day} is not a possible date (years 1900 to 2100)")
                       .format(what=what, day=day))
    return day


def check_period(period: str) -> str:
    """``period`` if it reads YYYY-MM, else BadInput."""
    if not isinstance(period, str) or not _PERIOD.match(period.strip()):
        raise BadInput(_("period must read YYYY-MM (for example 2026-11), not {value}").format(
            value=repr(str(period)[:20])))
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
    """Today in the organisation's time zone (`db.settings.today`: OUTREACH_TIMEZONE), one
    place, so tests and rules agree."""
    from outreach.db import settings

    return settings.today()


def check_not_future(day: dt.date, what: str) -> dt.date:
    """``day`` if it is not after the real today plus one day (time zones), else BadInput.

    For every date that records what happened or acts on it (a visit's date, the day a
    follow-up sweep expires and fails tasks): a date in the future would close windows and
    take members out of campaigns that have not happened yet. Planning dates are not
    checked: a coordinator may prepare next month's run.
    """
    latest = real_today() + FUTURE_SLACK
    if day > latest:
        raise BadInput(_("{what} {day} is in the future (the latest possible is {latest})")
                       .format(what=_(what), day=day, latest=latest))
    return day


# --- text a person typed ----------------------------------------------------------------------
# One rule for every text that enters the ledger (the ledger import from CSV and Excel,
# names, notes, reasons, answers, meeting texts, places, branch names; from the CLI, the
# service, the pages and the flows alike): the characters below are refused, not dropped,
# so that what is stored is what the person sees.

#: Unicode categories no stored text may hold: control characters (Cc: C0 but the newline,
#: so a tab too; DEL; C1, where U+009B starts a terminal escape as ESC [ does), the
#: characters that show nothing or reorder what is shown (Cf: bidi embeddings, overrides
#: and isolates U+202A–U+202E and U+2066–U+2069, the marks U+200E/U+200F and U+061C,
#: zero-width spaces and joiners U+200B–U+200D and U+2060, the BOM U+FEFF, the soft hyphen
#: U+00AD, tag characters …), the line and paragraph separators U+2028/U+2029 (Zl, Zp),
#: and lone surrogates (Cs), which no database can store.
_UNSEEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def unseen(text: str) -> str | None:
    """The first character of ``text`` that no stored text may hold (`_UNSEEN`), or None.
    A newline is allowed (notes and minutes have lines)."""
    if text.isprintable():  # (all printable: the quick answer for nearly every text)
        return None
    return next((c for c in text if c != "\n" and unicodedata.category(c) in _UNSEEN), None)


def unseen_problem(text: str, what: str) -> str | None:
    """The one line refusing ``text`` when it holds a character `unseen` finds: it names
    the field ``what`` (as shown to people) and the character's code point, never the text
    itself (it may be a phone number or an address); None when there is none."""
    bad = unseen(text)
    if bad is None:
        return None
    code = f"U+{ord(bad):04X}"
    if unicodedata.category(bad) == "Cc":
        return _("{what} contains control characters ({code})").format(what=what, code=code)
    return _("{what} contains an invisible character ({code})").format(what=what, code=code)


def check_text(value: str, what: str) -> str:
    """``value``, or BadInput (`unseen_problem`) when it holds a character no stored text
    may hold. ``what`` (marked ``N_``) is translated here."""
    problem = unseen_problem(value, _(what))
    if problem is not None:
        raise BadInput(problem)
    return value


# --- yes / no, same / none --------------------------------------------------------------------

YES = frozenset({"yes", "y", "true", "1", "是"})
NO = frozenset({"no", "n", "false", "0", "否"})
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
    raise BadInput(_("{what} must be yes or no (y/n, true/false, 1/0)").format(what=_(what)))


#: Where a member lives, as a ledger file says it (English or Chinese) → `Residence`.
RESIDENCE_WORDS = {"local": Residence.LOCAL, "away": Residence.AWAY,
                   "本地": Residence.LOCAL, "外出": Residence.AWAY}


def parse_residence(value: str, what: str) -> Residence:
    """local/away (any case) or 本地/外出; empty means local; else BadInput naming ``what``
    (the value shown only through `shown`: a shifted cell can hold an address)."""
    from outreach.i18n import _

    word = value.strip().lower()
    if not word:
        return Residence.LOCAL
    if word in RESIDENCE_WORDS:
        return RESIDENCE_WORDS[word]
    raise BadInput(_("{what} must be local or away (本地 or 外出), not {value}")
                   .format(what=what, value=shown(value)))


# --- the outcome table ------------------------------------------------------------------------
# What each outcome code does, as data: `tasks.outcomes.record_outcome` applies it (one
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


#: Faker locales the seed and the demo speak.
SEED_LOCALES = ("en_US", "zh_CN")


def seed_locale(value: str | None) -> str:
    """The seed's locale: the one asked for, else Chinese when outreach speaks Chinese."""
    from outreach.i18n import current

    if value is None:
        return "zh_CN" if current() == "zh_CN" else "en_US"
    if value not in SEED_LOCALES:
        raise BadInput(_("locale must be en_US or zh_CN, not {locale}").format(
            locale=repr(value)))
    return value


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
    return now if day >= real_today() else dt.datetime.combine(day, dt.time())


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

#: What a phone number may be: the ledger import's characters (`tasks.csvfile`), 3–40 of
#: them, at least one digit — so an answer always exports and imports back.
_PHONE_LEN = (3, 40)


def _phone(key: str, text: str) -> str:
    from outreach.tasks.csvfile import PHONE_SHAPE  # (csvfile imports this module)

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


# --- quarters and periods of meetings ---------------------------------------------------------

#: A quarter: YYYY-Qn, years 1900–2100.
QUARTER_PATTERN = r"^(19\d\d|20\d\d|2100)-[Qq]([1-4])$"
_QUARTER = re.compile(QUARTER_PATTERN)
#: The same, or empty (flow forms: empty means this quarter).
QUARTER_OR_EMPTY_PATTERN = r"^((19\d\d|20\d\d|2100)-[Qq][1-4])?$"


def quarter_of(day: dt.date) -> str:
    """The quarter a day lies in, written YYYY-Qn."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def check_quarter(period: str) -> str:
    """``period`` (normalised to YYYY-Qn) if it reads YYYY-Qn, else BadInput."""
    m = _QUARTER.match(period.strip()) if isinstance(period, str) else None
    if m is None:
        raise BadInput(_("the quarter must read YYYY-Qn (for example 2026-Q3), not {value}")
                       .format(value=repr(str(period)[:20])))
    return f"{m.group(1)}-Q{m.group(2)}"


def quarter_bounds(period: str | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """First and last day of a YYYY-Qn quarter (default: the quarter of ``today``)."""
    year, q = (today.year, (today.month - 1) // 3 + 1) if period is None else (
        int(check_quarter(period)[:4]), int(check_quarter(period)[-1]))
    first = dt.date(year, 3 * q - 2, 1)
    last_month = 3 * q
    return first, dt.date(year, last_month, calendar.monthrange(year, last_month)[1])


def period_bounds(period: str | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """First and last day of a month (YYYY-MM) or a quarter (YYYY-Qn); default this month."""
    if isinstance(period, str) and "q" in period.lower():
        return quarter_bounds(period, today)
    if isinstance(period, str) and not _PERIOD.match(period.strip()):
        raise BadInput(_("the period must read YYYY-MM or YYYY-Qn (for example 2026-11 or "
                         "2026-Q4), not {value}").format(value=repr(str(period)[:20])))
    return month_bounds(period, today)


# --- meetings (organisational life) -----------------------------------------------------------

#: A meeting planned at least this many days ahead sends notices (away and homebound members).
NOTICE_DAYS = Limit(1, 90, 7, N_("notice days"))
#: A notice task is due this many days before the meeting (never before the day it is given).
NOTICE_LEAD_DAYS = 3
#: A make-up study is due within this many days of closing the meeting.
MAKE_UP_DAYS = Limit(1, 90, 30, N_("make-up days"))
#: Months without taking part (present, remote, made up) that need a coordinator's attention.
LIFE_MONTHS = Limit(1, 24, 6, N_("months"))
#: How often a branch must hold each kind of meeting, in months (defaults; an organisation
#: changes them in ``OUTREACH_HOME/cadence.json``, e.g. ``{"lecture": 1, "group": 3}``).
CADENCE: dict[str, int] = {"assembly": 3, "committee": 1, "group": 1, "lecture": 3,
                           "theme_day": 1}
#: The cadences a file may choose (monthly, quarterly).
CADENCE_CHOICES = (1, 3)
CADENCE_FILE = "cadence.json"


def cadence(path=None) -> dict[str, int]:
    """Months per kind of meeting: `CADENCE`, overridden by ``OUTREACH_HOME/cadence.json``
    (or ``path``). A kind set to 0 is not required at all. A bad file is one BadInput."""
    def check(kind: str, months) -> None:
        if months not in (0, *CADENCE_CHOICES) or isinstance(months, bool):
            raise BadInput(_("the cadence of {kind} must be 1 (monthly), 3 (quarterly) or 0 "
                             "(not required)").format(kind=kind))

    return _home_settings(CADENCE_FILE, path, CADENCE, "cadence", (N_("kind"), N_("months")),
                          check)


def cadence_periods(months: int, first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    """The cadence periods (calendar months or quarters) that lie wholly in [first, last]."""
    if months <= 0:
        return []
    out = []
    year, month = first.year, first.month
    while True:
        start = dt.date(year, month, 1)
        end_month = month + months - 1
        end_year = year + (end_month - 1) // 12
        end_month = (end_month - 1) % 12 + 1
        end = dt.date(end_year, end_month, calendar.monthrange(end_year, end_month)[1])
        if end > last:
            return out
        if start >= first and (start.month - 1) % months == 0:
            out.append((start, end))
        month += 1
        if month > 12:
            year, month = year + 1, 1


def last_ended_period(months: int, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """The latest cadence period (month or quarter) that ended before ``today``."""
    if months <= 0:
        return None
    back = dt.date(today.year - 1, 1, 1)
    periods = cadence_periods(months, back, today - dt.timedelta(days=1))
    return periods[-1] if periods else None


def months_back(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` months earlier (the month's last day if it is shorter)."""
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# --- the scorecard (the six haves) ------------------------------------------------------------

#: The six indicators in the order a coordinator reads them, with their default goals (per
#: cent); an organisation changes them in ``OUTREACH_HOME/goals.json``, e.g. ``{"role": 40}``.
GOALS: dict[str, float] = {"movements": 90, "contact": 90, "education": 80, "care": 90,
                           "rights": 95, "role": 30}
GOALS_FILE = "goals.json"
#: Below the goal by at most this many points: amber; further below: red.
AMBER_POINTS = 10
#: The marks a cell can get (`mark`).
MARK_NAMES = ("green", "amber", "red", "n/a")
#: "Within a year": an address confirmed, a contribution made, in the days up to and
#: including the quarter's last day.
YEAR_DAYS = 365


def _home_json(name: str, path, what: str):
    """The JSON in ``OUTREACH_HOME/<name>`` (or ``path``); None when there is no such file.
    A file that cannot be read or is not JSON is one BadInput naming ``what``."""
    import json
    import os
    from pathlib import Path

    if path is None:
        home = os.environ.get("OUTREACH_HOME") or Path.home() / ".outreach"
        path = Path(home).expanduser() / name
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError:
        raise BadInput(_("cannot read the file {name}").format(name=name)) from None
    try:
        return json.loads(text)
    except ValueError:
        raise BadInput(_("the file {name} is not JSON").format(name=name)) from None


def _home_settings(name: str, path, defaults: dict, what: str, words: tuple[str, str],
                   check: Callable) -> dict:
    """``defaults``, overridden by the JSON object in ``OUTREACH_HOME/<name>`` (or
    ``path``): every key one of the defaults', every value passing ``check(key, value)``.
    ``words``: what a key and a value are called ("kind", "months")."""
    out = dict(defaults)
    given = _home_json(name, path, what)
    if given is None:
        return out
    key_word, value_word = words
    if not isinstance(given, dict):
        raise BadInput(_("the file {name} must be a JSON object: {keys} → {values}").format(
            name=name, keys=_(key_word), values=_(value_word)))
    for key, value in given.items():
        if key not in defaults:
            raise BadInput(_("the file {name} names an unknown {word} {key}; known: {known}")
                           .format(name=name, word=_(key_word), key=shown(str(key)),
                                   known=", ".join(defaults)))
        check(key, value)
        out[key] = value
    return out


def goals(path=None) -> dict[str, float]:
    """Goal per indicator (per cent, 0–100): `GOALS`, overridden by
    ``OUTREACH_HOME/goals.json`` (or ``path``). A bad file is one BadInput."""
    def check(name: str, goal) -> None:
        if isinstance(goal, bool) or not isinstance(goal, (int, float)) \
                or not 0 <= goal <= 100:
            raise BadInput(_("the goal of {name} must be a per cent from 0 to 100").format(
                name=name))

    return _home_settings(GOALS_FILE, path, GOALS, "goals", (N_("indicator"), N_("per cents")),
                          check)


def mark(numerator: int, denominator: int, goal: float) -> str:
    """green (at or above the goal), amber (at most `AMBER_POINTS` below), red; ``n/a``
    when there is nothing to count (denominator 0). Exact: no rounded per cent decides."""
    if not denominator:
        return "n/a"
    if 100 * numerator >= goal * denominator:
        return "green"
    if 100 * numerator >= (goal - AMBER_POINTS) * denominator:
        return "amber"
    return "red"


# --- care (issue 13) --------------------------------------------------------------------------

#: A care occasion's window: from this many days before the occasion to this many after.
CARE_BEFORE_DAYS = Limit(0, 60, 7, N_("days before"))
CARE_AFTER_DAYS = Limit(0, 60, 7, N_("days after"))
#: Milestone birthdays: these ages, and every year from `CARE_EVERY_YEAR_FROM` (up to
#: `CARE_OLDEST`, past which a birth date is more likely a typing error than a person).
CARE_MILESTONES = (80, 85, 90, 95)
CARE_EVERY_YEAR_FROM = 100
CARE_OLDEST = 125
#: The festivals (the Double Ninth, the Spring Festival): members of this age and over on
#: the day, and every homebound member.
CARE_FESTIVAL_AGE = 80
#: A life event gives a care visit due within this many days of it being recorded.
LIFE_EVENT_DAYS = 7
#: Hardship levels (1 mild … 3 severe): a monthly care visit until cleared.
HARDSHIP_LEVELS = Limit(1, 3, 1, N_("the hardship level"))
#: A member living away this many months gets a coordinator's transfer task (once a stay).
TRANSFER_AFTER_MONTHS = 6


def milestone_ages() -> tuple[int, ...]:
    """The ages whose birthday is a care occasion."""
    return tuple(sorted(set(CARE_MILESTONES)
                        | set(range(CARE_EVERY_YEAR_FROM, CARE_OLDEST + 1))))


def is_milestone(age: int) -> bool:
    return age in CARE_MILESTONES or CARE_EVERY_YEAR_FROM <= age <= CARE_OLDEST


def birthday_in(birth: dt.date, year: int) -> dt.date:
    """The day a birthday is kept in ``year`` (29 February: the 28th in other years)."""
    if birth.month == 2 and birth.day == 29 and not calendar.isleap(year):
        return dt.date(year, 2, 28)
    return birth.replace(year=year)


def lunar_day(year: int, month: int, day: int) -> dt.date:
    """The Gregorian day of a lunar date (the `lunardate` package; never by hand)."""
    from lunardate import LunarDate

    return LunarDate(year, month, day).to_solar_date()


def double_ninth(year: int) -> dt.date:
    """The Double Ninth festival of lunar ``year``: the 9th day of the 9th lunar month."""
    return lunar_day(year, 9, 9)


def spring_festival(year: int) -> dt.date:
    """The Spring Festival (lunar new year) of ``year``: the 1st day of the 1st lunar month."""
    return lunar_day(year, 1, 1)
