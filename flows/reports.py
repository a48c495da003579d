"""The weekly coverage report as Prefect artifacts: counts, branch names, volunteers.

What is published: counts per branch and segment, branch names, and the volunteers'
workload table — each volunteer's id and name with counts (their coordinators need to see
who is overloaded or behind; a volunteer's name is not a member's contact detail). Never a
member's name, phone, address or family contact: the unreachable list (family contacts)
is not published here; coordinators read it with `outreach report unreachable`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Optional

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from outreach.db.session import session_scope
from outreach.flows import common
from outreach.i18n import _
from outreach.tasks.campaigns import coverage
from outreach.tasks.kernel.rules import PERIOD_OR_EMPTY_PATTERN, check_period
from outreach.tasks.access.permissions import SYSTEM


@task(cache_policy=NO_CACHE)
def build(today: dt.date, period: str | None) -> tuple[list[dict], list[dict], list[dict]]:
    with session_scope(common.engine(), write=False) as s:
        return (coverage.coverage(s, today=today, period=period, actor=SYSTEM),
                coverage.coverage_by_segment(s, today=today, period=period, actor=SYSTEM),
                coverage.volunteer_workload(s, today=today, actor=SYSTEM))


@flow(name="coverage-report", log_prints=False)
def coverage_report(
    period: Annotated[str, common.field(
        _("Period (YYYY-MM)"),
        _("Which month counts as 'reached this period'. Empty: this month."),
        default="", pattern=PERIOD_OR_EMPTY_PATTERN)] = "",
    today: Annotated[Optional[dt.date], common.field(
        _("As of"), _("The report's date. Empty: today."), default=None)] = None,
) -> dict:
    """Weekly coverage: per branch and segment (away, homebound, local) who was reached,
    who is overdue, unreachable or never reached in the last three campaigns; and the
    volunteers' workload.

    Args:
        period: Which month counts as 'reached this period'; empty means this month.
        today: The report's date; empty means today.
    """
    today = common.day(today)
    period = check_period(period or f"{today:%Y-%m}")
    rows, segments, workload = build(today, period)
    common.table(rows, common.key("coverage", period),
                 _("Coverage per branch and segment, {period} as of {day}")
                 .format(period=period, day=today))
    common.table(segments, common.key("coverage-segments", period),
                 _("Coverage per segment, {period}").format(period=period))
    common.table(workload, common.key("volunteer-workload", period),
                 _("Volunteers' workload as of {day}").format(day=today))
    common.markdown(coverage.coverage_markdown(
                        rows, title=_("Coverage {period}").format(period=period)),
                    common.key("coverage-summary", period),
                    _("Coverage summary {period}").format(period=period))
    total = next((r for r in rows if r.get("branch") == "TOTAL"), {})
    get_run_logger().info(_("coverage {period}: {n} branches/segments")
                          .format(period=period, n=len(rows)))
    return {"period": period, "today": today.isoformat(), **{k: v for k, v in total.items()
                                                             if isinstance(v, int)}}
