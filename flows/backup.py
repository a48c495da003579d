"""The daily backup: a checked copy of the ledger in ``$OUTREACH_HOME/backups``
(`tasks.ledger.backup_jobs.back_up`, as `outreach db backup`), then the older copies pruned to
the newest of each of the last days and weeks that have one (the deployment's
parameters, 7 and 4 unless changed).

The artifact shows the file's name, its size, the time it took and counts — never its
folder (a home folder's path can carry a person's name), a phone or an address.
"""

from __future__ import annotations

from typing import Annotated

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from outreach.db import settings
from outreach.flows import common
from outreach.i18n import N_, _
from outreach.tasks.ledger import backup_jobs
from outreach.tasks.access.permissions import SYSTEM


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=30)
def take() -> dict:
    """Take and check the copy (nothing is left behind when it fails)."""
    common.engine()  # refuses a missing or old ledger in one line
    copy = backup_jobs.back_up(settings.database_url(), actor=SYSTEM)
    return {"file": copy.name, "size": copy.size, "seconds": round(copy.seconds, 1),
            "members": copy.members, "tasks": copy.tasks, "attempts": copy.attempts,
            "revision": copy.revision}


@task(cache_policy=NO_CACHE)
def prune(daily: int, weekly: int) -> tuple[list[str], list[str]]:
    return backup_jobs.prune(daily=daily, weekly=weekly)


#: The artifact's rows, as it names them.
ROWS = (("size", N_("size")), ("seconds", N_("duration (seconds)")),
        ("members", N_("members")), ("tasks", N_("tasks")), ("attempts", N_("attempts")),
        ("kept", N_("copies kept")), ("removed", N_("copies removed")))


def report(made: dict, kept: list[str], removed: list[str]) -> str:
    """The artifact's Markdown: the name of our own file and numbers only."""
    values = {**made, "size": backup_jobs.size_text(made["size"]), "kept": len(kept),
              "removed": len(removed)}
    lines = ["# " + _("Backup {file}").format(file=made["file"]), "",
             _("Checked before it was kept: integrity, and every member's and task's "
               "history replayed."), "", "| | |", "|---|---|"]
    lines += [f"| {_(label)} | {values[k]} |" for k, label in ROWS]
    return "\n".join(lines) + "\n"


@flow(name="backup", log_prints=False)
def backup(
    keep_daily: Annotated[int, common.field(
        _("Daily copies to keep"),
        _("The newest backup of each of this many most recent days is kept."),
        default=backup_jobs.KEEP_DAILY, ge=1, le=3660)] = backup_jobs.KEEP_DAILY,
    keep_weekly: Annotated[int, common.field(
        _("Weekly copies to keep"),
        _("The newest backup of each of this many most recent weeks is kept too."),
        default=backup_jobs.KEEP_WEEKLY, ge=0, le=520)] = backup_jobs.KEEP_WEEKLY,
) -> dict:
    """Back up the ledger (checked before it is kept), then prune the older copies.

    Args:
        keep_daily: The newest backup of each of this many most recent days is kept.
        keep_weekly: The newest backup of each of this many most recent weeks is kept too.
    """
    backup_jobs.check_keep(keep_daily, keep_weekly)
    made = take()
    kept, removed = prune(keep_daily, keep_weekly)
    common.markdown(report(made, kept, removed), "backup",
                    _("Backup of the ledger: size, duration, counts"))
    get_run_logger().info(_("backup {file}: {size} in {seconds} s; {kept} copies kept, "
                            "{removed} removed").format(
                                file=made["file"], size=backup_jobs.size_text(made["size"]),
                                seconds=made["seconds"], kept=len(kept),
                                removed=len(removed)))
    return {**made, "kept": len(kept), "removed": len(removed)}
