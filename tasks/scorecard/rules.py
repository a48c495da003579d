"""The rules of the scorecard (the six haves): the indicators and their goals, the marks.

Pure Python: no SQLAlchemy, no Prefect.
"""

from __future__ import annotations

from outreach.db.errors import BadInput
from outreach.i18n import N_, _
from outreach.tasks.kernel.rules import home_settings


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



def goals(path=None) -> dict[str, float]:
    """Goal per indicator (per cent, 0–100): `GOALS`, overridden by
    ``OUTREACH_HOME/goals.json`` (or ``path``). A bad file is one BadInput."""
    def check(name: str, goal) -> None:
        if isinstance(goal, bool) or not isinstance(goal, (int, float)) \
                or not 0 <= goal <= 100:
            raise BadInput(_("the goal of {name} must be a per cent from 0 to 100").format(
                name=name))

    return home_settings(GOALS_FILE, path, GOALS, "goals", (N_("indicator"), N_("per cents")),
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
