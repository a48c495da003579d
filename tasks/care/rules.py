"""The rules of care (issue 13): the care window, milestone birthdays, the festivals and
their lunar dates, life events, hardship, the transfer of a member living away.

Pure Python: no SQLAlchemy, no Prefect.
"""

from __future__ import annotations

import calendar
import datetime as dt

from outreach.i18n import N_
from outreach.tasks.kernel.rules import Limit


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
