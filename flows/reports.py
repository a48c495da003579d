"""The weekly coverage report as Prefect artifacts: counts and branch names only.

The unreachable list (family contacts) is never published here; coordinators read it
with `outreach report unreachable`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Optional

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from db.session import session_scope
from flows import common
from tasks import coverage


@task(cache_policy=NO_CACHE)
def build(today: dt.date, period: str | None) -> tuple[list[dict], list[dict], list[dict]]:
    with session_scope(common.engine(), write=False) as s:
        return (coverage.coverage(s, today=today, period=period),
                coverage.coverage_by_segment(s, today=today, period=period),
                coverage.volunteer_workload(s, today=today))


@flow(name="coverage-report", log_prints=False)
def coverage_report(
    period: Annotated[str, Field(
        default="", title="Period (YYYY-MM)", pattern=r"^(\d{4}-(0[1-9]|1[0-2]))?$",
        description="Which month counts as 'reached this period'. Empty: this month.")]
    = "",
    today: Annotated[Optional[dt.date], Field(
        default=None, title="As of", description="The report's date. Empty: today.")] = None,
) -> dict:
    """Weekly coverage: per branch and segment (away, homebound, local) who was reached,
    who is overdue, unreachable or never reached in the last three campaigns; and the
    volunteers' workload.

    Args:
        period: Which month counts as 'reached this period'; empty means this month.
        today: The report's date; empty means today.
    """
    today = common.day(today)
    period = period or f"{today:%Y-%m}"
    rows, segments, workload = build(today, period)
    common.table(rows, common.key("coverage", period), f"Coverage per branch and segment, "
                                                        f"{period} as of {today}")
    common.table(segments, common.key("coverage-segments", period),
                 f"Coverage per segment, {period}")
    common.table([{k: v for k, v in r.items()} for r in workload],
                 common.key("volunteer-workload", period), f"Volunteers' workload as of {today}")
    common.markdown(coverage.coverage_markdown(rows, title=f"Coverage {period}"),
                    common.key("coverage-summary", period), f"Coverage summary {period}")
    total = next((r for r in rows if r.get("branch") == "TOTAL"), {})
    get_run_logger().info("coverage %s: %d branches/segments", period, len(rows))
    return {"period": period, "today": today.isoformat(), **{k: v for k, v in total.items()
                                                             if isinstance(v, int)}}
