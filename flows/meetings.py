"""Organisational life through Prefect: the monthly check and planning from the browser.

* ``organisational-life`` (monthly, as `SYSTEM`): flags branches behind their cadence,
  gives out the make-up study any recently closed meeting still lacks (idempotent: a
  rerun creates nothing), and counts members six months without organisational life.
  Artifacts and events carry ids and counts only; the names of those members are for the
  coordinator's own ``outreach report meetings``, never for Prefect.
* ``plan-meeting`` (a form): a coordinator plans a meeting from the browser. Who plans is
  never a plain parameter: the form takes a run ticket (`tasks.access.tickets`, purpose
  ``plan-meeting``), redeemed before anything is written, as ``record-outcomes`` does.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Optional

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote
from pydantic import SecretStr

from outreach.db.codes import MeetingKind, RemoteOption
from outreach.db.session import session_scope
from outreach.flows import common
from outreach.flows.outcomes import who
from outreach.i18n import _
from outreach.tasks.kernel import labels
from outreach.tasks.meetings import life, meetings, rules as meeting_rules
from outreach.tasks.access.permissions import SYSTEM, Actor

PURPOSE = "plan-meeting"

Kind = Literal[tuple(k.value for k in MeetingKind)]
Remote = Literal[tuple(r.value for r in RemoteOption)]
Today = Annotated[Optional[dt.date], common.field(
    _("Run date"),
    _("The day the run counts from (cadence, six months, make-up window). Empty: today."),
    default=None)]


# --- organisational-life ------------------------------------------------------------------


@task(cache_policy=NO_CACHE)
def behind(today: dt.date) -> list[dict]:
    """Branches that did not hold what their cadence asks (ids, names of branches, counts)."""
    with session_scope(common.engine(), write=False) as s:
        return life.branches_behind(s, actor=SYSTEM, today=today)


@task(cache_policy=NO_CACHE)
def lacking(since: dt.date) -> list[int]:
    with session_scope(common.engine(), write=False) as s:
        return meetings.meetings_lacking_make_ups(s, actor=SYSTEM, since=since)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def give_make_ups(meeting_id: int, today: dt.date) -> dict:
    """One meeting's missing make-up tasks, in one transaction (idempotent)."""
    with session_scope(common.engine()) as s:
        return meetings.give_make_ups(s, meeting_id=meeting_id, actor=SYSTEM, today=today)


@task(cache_policy=NO_CACHE)
def without_life(today: dt.date, months: int) -> int:
    """How many members had no organisational life in ``months`` months (a count only)."""
    with session_scope(common.engine(), write=False) as s:
        return int(life.members_without_life(s, actor=SYSTEM, today=today,
                                                 months=months, names=False)["count"])


@flow(name="organisational-life", log_prints=False)
def organisational_life(
    today: Today = None,
    months: Annotated[int, common.field(
        _("Months without organisational life"),
        _("Count members with no meeting attended, remotely or made up, in this many "
          "months."),
        default=meeting_rules.LIFE_MONTHS.default, ge=meeting_rules.LIFE_MONTHS.low,
        le=meeting_rules.LIFE_MONTHS.high)] = meeting_rules.LIFE_MONTHS.default,
) -> dict:
    """Monthly check of organisational life: branches behind their cadence, make-up study a
    closed meeting still lacks, members without organisational life (a count).

    Args:
        today: The day the run counts from; empty means today.
        months: The window for "without organisational life" (default six months).
    """
    day = common.day(today)
    log = get_run_logger()
    late = behind(day)
    since = day - dt.timedelta(days=meeting_rules.MAKE_UP_DAYS.default)
    made = {"meetings": 0, "created": 0, "assigned": 0, "open": 0}
    for meeting_id in lacking(since):
        part = give_make_ups(meeting_id, day)
        made["meetings"] += 1
        for k in ("created", "assigned", "open"):
            made[k] += int(part.get(k, 0))
        common.event("meeting.make-ups-given", f"outreach.meeting.{meeting_id}",
                     meeting_id=meeting_id, created=int(part.get("created", 0)),
                     assigned=int(part.get("assigned", 0)), open=int(part.get("open", 0)))
    lonely = without_life(day, months)

    for row in late:
        common.event("meeting.branch-behind", f"outreach.branch.{row['branch_id']}",
                     branch_id=row["branch_id"], kind=row["kind"], since=str(row["from"]),
                     until=str(row["to"]), held=int(row.get("held", 0)))
    common.event("meeting.life-checked", "outreach.organisational-life",
                 day=day.isoformat(), branches_behind=len({r["branch_id"] for r in late}),
                 make_up_meetings=made["meetings"], make_up_created=made["created"],
                 members_without_life=lonely, months=months)

    rows = [{"branch_id": r["branch_id"], "branch": r["branch"], "kind": r["kind"],
             "period": _("{first} to {last}").format(first=r["from"], last=r["to"]),
             "held": int(r.get("held", 0))}
            for r in late]
    common.table(rows, common.key("meetings", "behind"),
                 _("Branches behind their meeting cadence on {day}").format(
                     day=day.isoformat()), of={"kind": "meeting_kind"})
    behind_lines = "\n".join(
        f"| {common.escape(r['branch'])} | {labels.label(r['kind'], of='meeting_kind')} | "
        f"{r['period']} | {r['held']} |" for r in rows) or _("| (none) | | | |")
    n_behind = len({r["branch_id"] for r in rows})
    common.markdown(
        _("# Organisational life, {day}").format(day=day.isoformat()) + "\n\n"
        + _("- branches behind their cadence: **{n}** ({kinds} kinds of meeting)")
        .format(n=n_behind, kinds=len(rows)) + "\n"
        + _("- make-up tasks created now: **{created}** for {meetings} closed meetings "
            "({assigned} assigned, {open} open)").format(**made) + "\n"
        + _("- members without organisational life for {months} months: **{n}** (names: "
            "`outreach meeting without-life`, for a coordinator)")
        .format(months=months, n=lonely) + "\n\n"
        + _("| branch | kind | period | held |") + "\n|---|---|---|---|\n" + behind_lines
        + "\n",
        common.key("meetings", "life"),
        _("Organisational life: cadence, make-up study, counts"))
    log.info(_("organisational life: {behind} branches behind, {created} make-up tasks "
               "created for {meetings} meetings, {lonely} members without organisational "
               "life for {months} months")
             .format(behind=n_behind, created=made["created"], meetings=made["meetings"],
                     lonely=lonely, months=months))
    return {"behind": rows, "make_up": made, "members_without_life": lonely}


# --- plan-meeting -------------------------------------------------------------------------


@task(cache_policy=NO_CACHE)
def plan(actor: Actor, branch: str, kind: str, on: dt.date, today: dt.date,
         topic: str | None, material: str | None, place: str | None, remote: str) -> dict:
    with session_scope(common.engine()) as s:
        return meetings.plan_meeting(s, branch=branch, kind=kind, on=on, actor=actor,
                                     today=today, topic=topic, material=material,
                                     place=place, remote=remote)


@flow(name="plan-meeting", log_prints=False)
def plan_meeting(
    branch: Annotated[str, common.field(_("Branch"), _("The branch that holds the meeting."),
                                        min_length=1, max_length=120)],
    kind: Annotated[Kind, common.field(
        _("Kind of meeting"),
        _("assembly, committee, group, lecture or theme_day: the branch assembly, the "
          "committee, a group meeting, a lecture or a theme day."))],
    on: Annotated[dt.date, common.field(
        _("Date"), _("A past date records a meeting already held; a date a week or more "
                     "ahead sends notices."))],
    ticket: Annotated[SecretStr, common.field(
        _("Run ticket"),
        _("From `outreach meeting ticket` (good for one run, 15 minutes): the meeting is "
          "planned by the coordinator who asked for it. Never type an access code here."))],
    topic: Annotated[str, common.field(_("Topic"), _("What the meeting is about."),
                                       default="", max_length=200)] = "",
    material: Annotated[str, common.field(_("Study material"),
                                          _("What a make-up study brings or talks through."),
                                          default="", max_length=200)] = "",
    place: Annotated[str, common.field(_("Place"), _("Where the meeting is held."),
                                       default="", max_length=200)] = "",
    remote: Annotated[Remote, common.field(
        _("Remote option"), _("How members far away take part: none, phone or video."),
        default="none")] = "none",
    today: Today = None,
) -> dict:
    """Plan a meeting of a branch from the browser: members are invited, and members far
    away or homebound get a notice task when it is far enough ahead.

    Args:
        branch: The branch that holds the meeting.
        kind: assembly, committee, group, lecture or theme_day.
        on: The meeting's date (a past date records a meeting already held).
        ticket: A run ticket from `outreach meeting ticket` (one run, 15 minutes).
        topic: The topic.
        material: The study material.
        place: Where it is held.
        remote: none, phone or video.
        today: The day the run counts from; empty means today.
    """
    actor = who(ticket, PURPOSE)  # before anything is written (`flows.outcomes.who`)
    day = common.day(today)
    # quote(): Prefect passes the actor as it is, never rebuilding it from its fields.
    out = plan(quote(actor), branch, kind, on, day, topic or None, material or None, place or None,
               remote)
    notices = out.get("notices") or {}
    common.event("meeting.planned", f"outreach.meeting.{out['id']}", meeting_id=out["id"],
                 kind=kind, status=out["status"], invited=int(out.get("invited", 0)),
                 notices=int(notices.get("created", 0)))
    common.table([{"meeting_id": out["id"], "kind": kind, "date": on.isoformat(),
                   "status": out["status"], "invited": out.get("invited", 0),
                   "notices": notices.get("created", 0),
                   "notices_assigned": notices.get("assigned", 0)}],
                 common.key("meeting", out["id"], "planned"), _("Meeting planned"),
                 of={"kind": "meeting_kind", "status": "meeting_status"})
    get_run_logger().info(_("meeting {id} planned ({kind}, {status}): {invited} invited, "
                            "{notices} notices")
                          .format(id=out["id"], kind=kind, status=out["status"],
                                  invited=out.get("invited", 0),
                                  notices=notices.get("created", 0)))
    return out
