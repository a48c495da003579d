"""The scorecard: how each branch stands on the six haves in a quarter (issue 13).

Per branch (and a TOTAL row), six indicators, each a numerator over a denominator against
a goal (`tasks.scorecard.rules.GOALS`, overridable in ``OUTREACH_HOME/goals.json``), marked green
(at or above the goal), amber (at most 10 points below), red — or ``n/a`` when there is
nothing to count — with the change from the previous quarter in percentage points.

Who is counted (the base population of every indicator): the members of the branch who
were contactable (unverified, active, unreachable) ON THE QUARTER'S LAST DAY. Their status
on that day is read from the status history (``member_status_changes``): the ``from`` of
their first change after that day, or their current status if nothing changed since. A
member whose first history row (created) is after that day was not in the ledger yet and
is not counted. Branch, residence and homebound are the CURRENT ones (the history of those
is in ``member_changes`` as text; replaying it per quarter is not worth its cost here), and
so is ``address_verified_on``: for a past quarter a later confirmation hides an earlier one.

The indicators (a row per branch counts the branch's own members; ``branch_id`` limits the
rows to a branch and those nested in it; TOTAL sums the rows):

1. ``movements`` — address confirmed (``address_verified_on``) in the 365 days up to and
   including the quarter's last day.
2. ``contact`` — of the members living away: a successful contact (an outcome of
   `tasks.work.rules.SUCCESSFUL_CONTACT` on a task of the member's own: not an escalation or a
   transfer) recorded in the quarter.
3. ``education`` — the lectures and theme days "their branch held": held (or closed) in the
   quarter by the member's branch or a branch above it (whose invitations reach the
   member). Fulfilled: present, remote or made up at as many of them as were held (the
   marks are counted on the member's attendance rows, which exist only where they were
   invited); homebound members also need a completed delivery (a delivery task's attempt
   delivered, or delivered to the family, recorded in the quarter: it closes the task as
   done). A member whose branches held none is LEFT OUT of the denominator (nothing was
   asked of them); a branch that held none shows ``n/a``, not green — the meetings report
   says which branches are behind their cadence.
4. ``care`` — care occasions of the quarter (``occasion_on`` in it) of counted members,
   cancelled ones left out; fulfilled when ``visited`` (a care visit within the window).
5. ``rights`` — like education, for the assemblies: present or remote, or a done notice
   task for that assembly. Members whose branches held no assembly are left out.
6. ``role`` — of the members not homebound: a contribution in the 365 days up to and
   including the quarter's last day.

Set-based, and one pass over the members for the quarter AND the one before it (the
change): `facts` reads each member once with what every indicator of both quarters
needs — whether they were counted, address confirmed, contacted, delivered to,
contributed (a bit per quarter, packed in one integer: `_packed`) and how many of each
quarter's meetings they took part in (`_marks`: attendance, and notices read by their
runs). Contacts and deliveries come from the member's row: the database keeps on it the
two newest quarters with a contact and with a delivery (`_summary_bits`, revision 0009),
and only a quarter older than both is looked up in the member's tasks and attempts (never
an ``IN (subquery)`` in the select list). The members, their contributions, their marks
and their care occasions are ONE stream of rows of a few integers (`_Layout`), grouped by
member — no join — and then by those integers: a few thousand groups, each judged in
Python (`_judge`: the meetings asked of a branch come from the branch tree,
`tasks.ledger.tree`), not each member in SQL. The status history is read
only for a quarter after whose last day some status changed (`_changed_since`), and a
quarter before the first member is not queried (`_existed`). On a big ledger the queries
run for each half of the member ids on two connections (`_run`; PostgreSQL with
`PG_WORK_MEM`). Reads only; migration 0008's indexes and 0009's summary carry what it
reads. `scorecard_members` lists a cell's members with the same facts, joined
(`_facts`), and the same rules in SQL (`_indicators`).
Measured (`bench.bench_scorecard`, 1,000,000 members): see README "Benchmarks".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from outreach.db.errors import BadInput
from outreach.db.machines import CareStatus
from outreach.db.models import Branch, CareOccasion, Member
from outreach.i18n import _
from outreach.tasks.scorecard import rules as score_rules
from outreach.tasks.kernel import rules
from outreach.tasks.ledger import tree
from outreach.tasks.access.permissions import COORDINATOR, COUNTS, Actor, requires
from outreach.tasks.kernel.labels import for_markdown, label

from outreach.tasks.scorecard import facts as score_facts
from outreach.tasks.scorecard.facts import (
    INDICATORS,
    branch_counts,
    care_in,
    member_facts,
    population,
    quarter,
    quarter_facts,
    tune,
)
from outreach.tasks.scorecard.judge import indicator_cells

MARKS = {"green": "🟢", "amber": "🟡", "red": "🔴", "n/a": "⚪"}
COLUMNS = ("branch", "indicator", "numerator", "denominator", "percent", "goal", "status",
           "change")



def previous_quarter(period: str) -> str:
    """The quarter before ``period`` (YYYY-Qn)."""
    first = quarter(period)[1]
    return rules.quarter_of(first - dt.timedelta(days=1))


def _scope(session: Session, branch_id: int | None) -> list[int] | None:
    if branch_id is None:
        return None
    if isinstance(branch_id, bool) or not isinstance(branch_id, int):
        raise BadInput(_("the branch must be a branch id"))
    return tree.subtree_ids(session, branch_id)


# --- the scorecard ------------------------------------------------------------------------------


def _percent(num: int, den: int) -> float | None:
    return round(100 * num / den, 1) if den else None


def _rows(names: dict[int, str], now: dict, before: dict, goal: dict[str, float]) -> list[dict]:
    def total(counts: dict) -> dict[str, tuple[int, int]]:
        return {n: (sum(c[n][0] for c in counts.values()), sum(c[n][1] for c in counts.values()))
                for n in INDICATORS}

    keyed = [(names[b], now[b], before.get(b)) for b in sorted(now, key=lambda b: names[b])]
    keyed.append(("TOTAL", total(now), total(before) if before else None))
    rows = []
    for branch, figures, prev in keyed:
        for name in INDICATORS:
            num, den = figures[name]
            pct = _percent(num, den)
            old = _percent(*prev[name]) if prev else None
            rows.append({"branch": branch, "indicator": name, "numerator": num,
                         "denominator": den, "percent": pct, "goal": goal[name],
                         "status": score_rules.mark(num, den, goal[name]),
                         "change": round(pct - old, 1) if pct is not None and old is not None
                         else None})
    return rows


@requires(COUNTS)
def scorecard(session: Session, *, actor: Actor, period: str,
              branch_id: int | None = None) -> list[dict]:
    """The six indicators of a quarter (YYYY-Qn) per branch and a TOTAL row: one row per
    branch and indicator (`COLUMNS`), branches by name, TOTAL last. Counts only."""
    period = quarter(period)[0]
    scope = _scope(session, branch_id)
    tune(session)
    goal = score_rules.goals()
    now, before = branch_counts(session, [period, previous_quarter(period)], scope)
    names = dict(session.execute(select(Branch.id, Branch.name)).all())
    return _rows(names, now, before, goal)


@requires(COORDINATOR)
def scorecard_members(session: Session, *, actor: Actor, period: str,
                      branch_id: int | None = None, indicator: str) -> list[dict]:
    """The members behind a cell who do NOT meet the indicator (those counted in its
    denominator and not in its numerator), of ``branch_id`` and the branches nested in it
    (None: every branch). Coordinators only; ledger number, name and branch — no contact
    details. For ``care``: the members with an occasion of the quarter not visited."""
    if indicator not in INDICATORS:
        raise BadInput(_("there is no indicator {name}; indicators: {names}").format(
            name=repr(str(indicator)[:40]), names=", ".join(INDICATORS)))
    _period, first, last = quarter(period)
    scope = _scope(session, branch_id)
    tune(session)
    if indicator == "care":
        pop = population(last, scope, history=score_facts.changed_since(session, last))
        ids = (select(CareOccasion.member_id).join(pop, pop.c.id == CareOccasion.member_id)
               .where(*care_in(first, last),
                      CareOccasion.status != CareStatus.VISITED.value))
    else:
        q = quarter_facts(session, first, last)
        facts = member_facts(session, [q], scope)
        cell_in, cell_ok = indicator_cells(facts, 0, q, tree.chains(session))[indicator]
        # (a NULL, e.g. no address date, is "not met", as in the scorecard's CASE)
        ids = select(facts.c.member_id).where(cell_in, case((cell_ok, 1), else_=0) == 0)
    stmt = (select(Member.ledger_no, Member.name, Branch.name)
            .join(Branch, Branch.id == Member.branch_id).where(Member.id.in_(ids))
            .order_by(Branch.name, Member.ledger_no))
    return [{"ledger_no": no, "name": name, "branch": branch}
            for no, name, branch in session.execute(stmt)]


def scorecard_markdown(rows: list[dict], period: str) -> str:
    """The scorecard as a markdown table a coordinator reads at a glance: a row per branch,
    a column per indicator, each cell a coloured mark, the per cent and the change (branch
    names and figures only). In the current language (`tasks.kernel.labels`: the indicators'
    names; English: their codes, as before)."""
    goals = {r["indicator"]: r["goal"] for r in rows}
    head = ["## " + _("Six haves — {period}").format(period=period), "",
            "| " + _("branch") + " | "
            + " | ".join(_("{indicator} (goal {goal}%)").format(
                indicator=label(n, of="indicator"), goal=goals.get(n, ""))
                for n in INDICATORS) + " |",
            "|---" * (len(INDICATORS) + 1) + "|"]
    cells: dict[str, dict[str, str]] = {}
    for r in rows:
        pct = "–" if r["percent"] is None else f"{r['percent']:.1f}%"
        change = "" if r["change"] is None else f" ({r['change']:+.1f})"
        cells.setdefault(r["branch"], {})[r["indicator"]] = (
            f"{MARKS[r['status']]} {pct} {r['numerator']}/{r['denominator']}{change}")
    total = "**" + _("TOTAL") + "**"
    body = ["| " + " | ".join([(total if b == "TOTAL" else for_markdown(b))]
                              + [c.get(n, "") for n in INDICATORS]) + " |"
            for b, c in cells.items()]
    legend = ["", _("🟢 at or above the goal · 🟡 within {points} points below · 🔴 further "
                    "below · ⚪ nothing to count · (change from the previous quarter, in "
                    "points)").format(points=score_rules.AMBER_POINTS)]
    return "\n".join(head + body + legend)


def red_cells(rows: list[dict]) -> list[dict[str, Any]]:
    """The red cells (branch, indicator, figures), for events."""
    return [r for r in rows if r["status"] == "red"]
