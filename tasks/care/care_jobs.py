"""The daily care planning's jobs, step by step (`tasks.care.care` holds the rules).

Transactions: every function here takes an Engine and owns its transactions — one short
transaction per step (per kind of occasion), committed before the next — and is safe to
run again (occasions are unique per member, kind and day; a care visit is given only to an
occasion without one); the ``care`` flow wraps each step in a Prefect task, and `outreach
care plan` runs the same flow.

Every step takes ``today``, the day the planning acts for; not after the real today (plus
a day for time zones): `tasks.kernel.rules.check_not_future`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from outreach.db.codes import CareOccasionKind as CK
from outreach.db.session import session_scope
from outreach.i18n import N_
from outreach.tasks.care import care
from outreach.tasks.kernel.rules import check_not_future

#: The steps in order: close what ended, plan each kind, give the visits, the transfers.
KINDS = (CK.BIRTHDAY, CK.DOUBLE_NINTH, CK.SPRING_FESTIVAL, CK.LIFE_EVENT, CK.HARDSHIP)


def care_day(today: dt.date) -> dt.date:
    return check_not_future(today, N_("the care planning date"))


def close_occasions(engine: Engine, *, today: dt.date) -> dict[str, int]:
    """Due occasions: missed when their window closed, cancelled when the member is no
    longer contactable (one transaction)."""
    care_day(today)
    with session_scope(engine) as s:
        return care.close_occasions(s, today=today)


def plan_occasions(engine: Engine, *, today: dt.date) -> dict[str, int]:
    """New occasions whose window holds ``today``, per kind (one transaction per kind)."""
    care_day(today)
    made = {}
    with session_scope(engine) as s:
        made[CK.BIRTHDAY.value] = care.plan_birthdays(s, today=today)
    with session_scope(engine) as s:
        made.update(care.plan_festivals(s, today=today))
    with session_scope(engine) as s:
        made[CK.HARDSHIP.value] = care.plan_hardship(s, today=today)
    made[CK.LIFE_EVENT.value] = 0  # recorded one by one (`care.record_event`)
    return made


def give_visits(engine: Engine, *, today: dt.date) -> dict[str, int]:
    """Care visit tasks for every due occasion without one (one transaction per kind)."""
    care_day(today)
    total = {"created": 0, "assigned": 0, "open": 0}
    for kind in KINDS:
        with session_scope(engine) as s:
            got = care.give_visits(s, kind=kind, today=today)
        for k in total:
            total[k] += got[k]
    return total


def plan_transfers(engine: Engine, *, today: dt.date) -> int:
    """Transfer tasks for members living away for six months (one transaction)."""
    care_day(today)
    with session_scope(engine) as s:
        return care.plan_transfers(s, today=today)


def plan_care(engine: Engine, *, today: dt.date) -> dict:
    """The whole daily planning without Prefect (tests, benchmarks): every step above."""
    closed = close_occasions(engine, today=today)
    made = plan_occasions(engine, today=today)
    visits = give_visits(engine, today=today)
    transfers = plan_transfers(engine, today=today)
    return {"today": today.isoformat(), "occasions": made, **visits, **closed,
            "transfers": transfers}
