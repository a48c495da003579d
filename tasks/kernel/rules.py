"""The small shared kernel of rules: limits, dates, months and quarters, the text rule,
yes/no and ``same``/``none``, the phone's shape, settings files in ``OUTREACH_HOME``.

Only what several concepts share lives here; each concept owns its own rules
(`tasks.work.rules`: outcomes and answers; `tasks.campaigns.rules`; `tasks.meetings.rules`;
`tasks.care.rules`; `tasks.scorecard.rules`; `tasks.ledger.rules`).

Pure Python: no SQLAlchemy, no Prefect. The volunteer's CLI imports it in remote mode
(talking to the ledger service) without loading the ORM.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable

from outreach.db.errors import BadInput, shown
from outreach.i18n import _


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

#: What a phone number may be made of (digits, spaces, + - ( ) . # * / x): the ledger
#: import's rule (`tasks.kernel.csvfile`) and the answers' (`tasks.work.rules`).
PHONE_SHAPE = re.compile(r"^[0-9 +\-().#*/x]*$")


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

# --- quarters ---------------------------------------------------------------------------------

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

def months_back(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` months earlier (the month's last day if it is shorter)."""
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# --- settings files in OUTREACH_HOME --------------------------------------------------------------


def home_json(name: str, path, what: str):
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


def home_settings(name: str, path, defaults: dict, what: str, words: tuple[str, str],
                   check: Callable) -> dict:
    """``defaults``, overridden by the JSON object in ``OUTREACH_HOME/<name>`` (or
    ``path``): every key one of the defaults', every value passing ``check(key, value)``.
    ``words``: what a key and a value are called ("kind", "months")."""
    out = dict(defaults)
    given = home_json(name, path, what)
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
