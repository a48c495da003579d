"""The rules of organisational life: notices and their lead time, make-up study, the
months without taking part, and the cadence each branch must keep.

Pure Python: no SQLAlchemy, no Prefect.
"""

from __future__ import annotations

import calendar
import datetime as dt

from outreach.db.errors import BadInput
from outreach.i18n import N_, _
from outreach.tasks.kernel.rules import Limit, home_settings


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

    return home_settings(CADENCE_FILE, path, CADENCE, "cadence", (N_("kind"), N_("months")),
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
