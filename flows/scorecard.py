"""The weekly scorecard (the six haves) as Prefect artifacts and events.

Published: a markdown artifact a coordinator reads at a glance (a row per branch, a
coloured mark per indicator — 🟢 🟡 🔴, ⚪ nothing to count — with the per cent, the figures
and the change from the previous quarter) and the same rows as a table artifact: branch
names and counts only, never a member. Each red cell is an ``outreach.scorecard.red``
event about its branch (ids and figures). Who is behind a red cell: coordinators ask
`outreach report scorecard --indicator NAME --members`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Optional

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import select

from outreach.db.models import Branch
from outreach.db.session import session_scope
from outreach.flows import common
from outreach.i18n import _
from outreach.tasks.kernel import rules
from outreach.tasks.scorecard import rules as score_rules
from outreach.tasks.scorecard import scorecard as sc
from outreach.tasks.access.permissions import SYSTEM

@task(cache_policy=NO_CACHE)
def build(period: str) -> tuple[list[dict], dict[str, int]]:
    """The scorecard's rows and the branch ids by name (for the events)."""
    with session_scope(common.engine(), write=False) as s:
        rows = sc.scorecard(s, actor=SYSTEM, period=period)
        ids = {name: bid for bid, name in s.execute(select(Branch.id, Branch.name))}
    return rows, ids


@flow(name="scorecard", log_prints=False)
def scorecard(
    period: Annotated[str, common.field(
        _("Quarter (YYYY-Qn)"), _("The quarter to score. Empty: the quarter of the run date."),
        default="", pattern=rules.QUARTER_OR_EMPTY_PATTERN)] = "",
    today: Annotated[Optional[dt.date], common.field(
        _("Run date"), _("The day the scorecard counts from. Empty: today."),
        default=None)] = None,
) -> dict:
    """The six haves per branch for a quarter: movements recorded, a contact bridge,
    effective education, a channel for care, rights assured, room for a role — each
    green, amber or red against its goal, with the change from the previous quarter.

    Args:
        period: The quarter (YYYY-Qn); empty means the quarter of the run date.
        today: The run date; empty means today.
    """
    today = common.day(today)
    period = rules.check_quarter(period) if period else rules.quarter_of(today)
    rows, ids = build(period)
    common.markdown(sc.scorecard_markdown(rows, period), common.key("scorecard-summary", period),
                    _("Six haves per branch, {period}").format(period=period))
    common.table(rows, common.key("scorecard", period),
                 _("Six haves per branch and indicator, {period}").format(period=period),
                 of={"status": "mark"})
    red = sc.red_cells(rows)
    for r in red:
        bid = ids.get(r["branch"]) if r["branch"] != "TOTAL" else None
        common.event("scorecard.red",
                     f"outreach.branch.{bid}" if bid is not None else "outreach.branches",
                     branch_id=bid if bid is not None else 0, indicator=r["indicator"],
                     period=period, numerator=r["numerator"], denominator=r["denominator"],
                     percent=str(r["percent"]), goal=str(r["goal"]))
    get_run_logger().info(_("scorecard {period}: {rows} rows, {red} red")
                          .format(period=period, rows=len(rows), red=len(red)))
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in score_rules.MARK_NAMES}
    return {"period": period, "rows": len(rows), **counts}
