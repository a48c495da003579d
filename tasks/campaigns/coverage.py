"""Coverage reports: who was reached, who was not, who fell out of contact, who moved.

Plain functions (no Prefect), each returning rows (dicts whose keys are the column names)
ready for tabulate, CSV or JSON. They read, never write. All of them are set-based SQL:
a few GROUP BY queries whatever the size of the ledger, no member row through Python.

* `coverage` — per branch and segment (or per segment only): members, reached this period,
  overdue, unreachable, never reached in the last three campaign runs; a TOTAL row last.
* `volunteer_workload` — per volunteer: open, done, overdue, attempts, success rate.
* `unreachable_list` — unreachable members WITH family contacts: coordinators only, never
  in a Prefect artifact or a log.
* `movements` — who moved away or came back, when, recorded by whom.
* `coverage_markdown` — a short summary of `coverage` rows for a Prefect artifact.

Segments: ``away`` (living elsewhere), ``homebound`` (local and homebound), ``local``.
Members who died or left the organisation (deceased, moved_out) are not counted.

Speed (issue 3: under 2 s over 1,000,000 members and 3,000,000 tasks; `bench.bench_report`)
rests on two covering indexes, so that SQLite streams them in order without sorting or
reading table rows:

* ``members (branch_id, residence, homebound, status, last_reached_on)`` — the per-branch
  counts; the queries group by those raw columns in that order;
* ``outreach_tasks (member_id, run_id, status, outcome)`` — "never reached", grouped by
  member (it makes the single-column index on ``member_id`` redundant).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from sqlalchemy import and_, case, func, literal, select, union_all
from sqlalchemy.orm import Session, aliased

from outreach.db.dialect import hashes_big_sets, parallel_file_reads, tune_transaction
from outreach.db.errors import BadInput
from outreach.i18n import _
from outreach.db.machines import MemberStatus, TaskStatus
from outreach.db.models import (
    Attempt,
    Branch,
    Campaign,
    CampaignKind,
    CampaignRun,
    Member,
    MemberChange,
    MemberStatusChange,
    Outcome,  # noqa: F401 (tests read it from here)
    OutreachTask,
    Residence,
    Volunteer,
)
from outreach.tasks.access.permissions import COORDINATOR, COUNTS, Actor, requires
from outreach.tasks.ledger import tree
from outreach.tasks.kernel.labels import for_markdown
from outreach.tasks.work.rules import SUCCESSFUL_CONTACT
from outreach.tasks.kernel.rules import month_bounds

#: Outcomes that count as a successful contact (the member, or their family, got it):
#: from the outcome table (`tasks.work.rules.SUCCESSFUL_CONTACT`).
SUCCESS = tuple(sorted(o.value for o in SUCCESSFUL_CONTACT))
SEGMENTS = ("local", "away", "homebound")
#: Member states left out of coverage: they are no longer ours to reach.
GONE = (MemberStatus.DECEASED.value, MemberStatus.MOVED_OUT.value)
OPEN = (TaskStatus.OPEN.value, TaskStatus.ASSIGNED.value)
#: How many recent campaign runs "never reached" looks back over.
LOOKBACK_RUNS = 3
COVERAGE_COLUMNS = ("members", "reached", "overdue", "unreachable", "never_reached_3")


# --- helpers ------------------------------------------------------------------------------


def _segment(residence, homebound) -> str:
    """A member's segment: away (living elsewhere), homebound (local and homebound), local."""
    if str(residence) == Residence.AWAY.value:
        return "away"
    return "homebound" if homebound else "local"


def branch_ids_under(session: Session, branch_id: int) -> list[int]:
    """``branch_id`` and every branch nested under it (`tasks.ledger.tree`)."""
    return tree.subtree_ids(session, branch_id)


def last_runs(session: Session, n: int = LOOKBACK_RUNS) -> list[int]:
    """Ids of the ``n`` most recent campaign runs (escalations are not campaigns, nor are a
    meeting's notices and make-up study: runs with a ``meeting_id``)."""
    return list(session.scalars(
        select(CampaignRun.id).join(Campaign, Campaign.id == CampaignRun.campaign_id)
        .where(Campaign.kind != CampaignKind.ESCALATION.value,
               CampaignRun.meeting_id.is_(None))
        .order_by(CampaignRun.started_at.desc(), CampaignRun.id.desc()).limit(n)))


#: From this many members on, SQLite runs the coverage queries side by side.
PARALLEL_FROM = 200_000


def run_parts(session: Session, parts_for) -> list:
    """The rows of every part query (``parts_for(lo, hi)``), summed by the caller.

    SQLite runs one query on one core. On a big ledger the parts run for each half of the
    member ids, on two connections in two threads — sqlite3 lets go of the GIL while it
    steps — so both cores work. Each connection reads its own snapshot (WAL): figures
    written between the parts' starts may be counted by one part and not another; a
    report is a picture of a moving ledger anyway. Small ledgers, PostgreSQL, and any
    session inside a wider transaction (tests) take the plain path: one query after
    another on the session.
    """
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    top = None
    if parallel_file_reads(bind) and not session.in_nested_transaction():
        top = session.scalar(select(func.max(Member.id)))
    if not top or top < PARALLEL_FROM:
        return [row for part in parts_for(None, None) for row in session.execute(part)]
    from concurrent.futures import ThreadPoolExecutor

    half = top // 2
    jobs = parts_for(None, half) + parts_for(half + 1, None)

    def fetch(stmt):
        with engine.connect() as conn:
            return conn.execute(stmt).all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        return [row for rows in pool.map(fetch, jobs) for row in rows]


def tune_for_reports(session: Session) -> None:
    """PostgreSQL, this transaction only: no JIT (compiling these big aggregates costs more
    than it saves, a few hundred ms). More work_mem is worse here: it tempts the planner
    into hashing all tasks instead of streaming the (member_id, run_id, …) index."""
    tune_transaction(session, jit=False)


def _zero():
    """A fresh ``0`` column (one literal object used twice would be one column)."""
    return literal(0)


def _bool(value) -> int:
    return int(value or 0)


# --- coverage -----------------------------------------------------------------------------


@requires(COUNTS)
def coverage(session: Session, *, today: dt.date, actor: Actor, period: str | None = None,
             branch_id: int | None = None,
             per: Literal["branch", "segment"] = "branch") -> list[dict]:
    """Per branch and segment (``per="segment"``: per segment only), a TOTAL row last.

    ``reached``: last reached within the period's month; ``overdue``: has an open or
    assigned task due before ``today``; ``unreachable``: lifecycle unreachable;
    ``never_reached_3``: had a task in the last three campaign runs, every one of those
    tasks is closed (done, failed, expired or cancelled — a cancelled task is a contact
    that did not happen) and none ended done with a successful outcome. A member with a
    task of those runs still open or assigned is not counted: nobody has been due yet.
    ``branch_id`` keeps that branch and the branches nested under it.
    """
    if per not in ("branch", "segment"):
        raise BadInput(_("per must be branch or segment, not {per}").format(per=repr(per)))
    first, last = month_bounds(period, today)
    tune_for_reports(session)
    keep = [Member.status.not_in(GONE)]
    if branch_id is not None:
        keep.append(Member.branch_id.in_(branch_ids_under(session, branch_id)))
    # Grouped by the raw columns, in the order of the covering index
    # ix_members_coverage (branch_id, residence, homebound, status, last_reached_on): SQLite
    # then streams the index without a sort. Segments are folded in Python (≤ 4 rows each).
    keys = [Member.branch_id, Member.residence, Member.homebound]

    def grouped(*cols, where=()):
        return select(*keys, *cols).where(*keep, *where).group_by(*keys)

    runs = last_runs(session)
    hashes = hashes_big_sets(session)

    def parts_for(lo: int | None, hi: int | None) -> list:
        """The part queries over members with ``lo <= id <= hi`` (None: no bound)."""
        def window(col):
            return [c for c in ((col >= lo) if lo is not None else None,
                                (col <= hi) if hi is not None else None) if c is not None]

        mine = window(Member.id)
        # 1. one scan of the members: members, reached, unreachable.
        base = grouped(
            func.count().label("members"),
            func.sum(case((Member.last_reached_on.between(first, last), 1), else_=0)),
            _zero(),
            func.sum(case((Member.status == MemberStatus.UNREACHABLE.value, 1), else_=0)),
            _zero(), where=mine)
        # 2. overdue: the members behind an open/assigned task due before today
        #    (ix_outreach_tasks_status_due finds those tasks).
        overdue_ids = (select(OutreachTask.member_id)
                       .where(OutreachTask.status.in_(OPEN), OutreachTask.due_on < today,
                              *window(OutreachTask.member_id)))
        overdue = grouped(_zero(), _zero(), func.count(), _zero(), _zero(),
                          where=[Member.id.in_(overdue_ids), *mine])
        parts = [base, overdue]
        if not runs:
            return parts
        # 3. never reached: members with tasks in the last runs, all of them closed, none
        #    of them a success.
        t = OutreachTask
        if hashes:
            # PostgreSQL: a semi join and an anti join (parallel hash joins over the
            # member_run index), about 1.4 s at 1M members / 3M tasks against 2.0 s for
            # the grouped form below, whose HAVING it misestimates into 480k nested loops.
            had = select(t.id).where(t.member_id == Member.id, t.run_id.in_(runs)).exists()
            won = select(t.id).where(t.member_id == Member.id, t.run_id.in_(runs),
                                     t.status == TaskStatus.DONE.value,
                                     t.outcome.in_(SUCCESS)).exists()
            pending = select(t.id).where(t.member_id == Member.id, t.run_id.in_(runs),
                                         t.status.in_(OPEN)).exists()
            parts.append(grouped(_zero(), _zero(), _zero(), _zero(), func.count(),
                                 where=[had, ~won, ~pending, *mine]))
            return parts
        # A success, or a task not yet closed: either keeps the member out of the count.
        ok = case((and_(t.status == TaskStatus.DONE.value, t.outcome.in_(SUCCESS)), 1),
                  (t.status.in_(OPEN), 1), else_=0)
        # ``run_id + 0`` keeps SQLite off the (run_id, member_id) index, whose rows it would
        # then sort by member: it walks ix_outreach_tasks_member_run (member_id, run_id,
        # status, outcome) instead, already in member order, reading no rows.
        missed = (select(t.member_id.label("member_id"))
                  .where((t.run_id + 0).in_(runs), *window(t.member_id))
                  .group_by(t.member_id)
                  .having(func.max(ok) == 0).subquery())
        parts.append(
            select(*keys, _zero(), _zero(), _zero(), _zero(), func.count())
            .select_from(Member).join(missed, missed.c.member_id == Member.id)
            .where(*keep, *mine).group_by(*keys))
        return parts

    acc: dict[tuple, list[int]] = {}
    for bid, residence, homebound, *values in run_parts(session, parts_for):
        segment = _segment(residence, homebound)
        key = (bid, segment) if per == "branch" else (segment,)
        slot = acc.setdefault(key, [0] * len(COVERAGE_COLUMNS))
        for i, v in enumerate(values):
            slot[i] += _bool(v)

    order = {s: i for i, s in enumerate(SEGMENTS)}
    rows: list[dict] = []
    if per == "branch":
        names = dict(session.execute(select(Branch.id, Branch.name)).all())
        for (bid, segment), values in sorted(
                acc.items(), key=lambda kv: (names.get(kv[0][0], ""), order[kv[0][1]])):
            rows.append({"branch": names.get(bid, str(bid)), "segment": segment,
                         **dict(zip(COVERAGE_COLUMNS, values))})
        total = {"branch": "TOTAL", "segment": "all"}
    else:
        for (segment,), values in sorted(acc.items(), key=lambda kv: order[kv[0][0]]):
            rows.append({"segment": segment, **dict(zip(COVERAGE_COLUMNS, values))})
        total = {"segment": "TOTAL"}
    for col in COVERAGE_COLUMNS:
        total[col] = sum(r[col] for r in rows)
    rows.append(total)
    return rows


@requires(COUNTS)
def coverage_by_segment(session: Session, *, today: dt.date, actor: Actor,
                        period: str | None = None, branch_id: int | None = None) -> list[dict]:
    """`coverage` aggregated per segment only (away, homebound, local), TOTAL last."""
    return coverage(session, today=today, actor=actor, period=period, branch_id=branch_id,
                    per="segment")


# --- volunteers ---------------------------------------------------------------------------


@requires(COUNTS)
def volunteer_workload(session: Session, *, today: dt.date, actor: Actor,
                       period: str | None = None, branch_id: int | None = None) -> list[dict]:
    """Per volunteer: assigned (open) tasks, done, overdue, attempts and success rate.

    ``success rate``: the share of the volunteer's attempts with outcome reached,
    delivered or delivered_to_family, in percent with one decimal ('-' with no attempts).
    ``period`` is accepted for a uniform signature; the counts are over all time.
    """
    t = OutreachTask
    # Three grouped queries, each on an index: counts per (volunteer, status) straight from
    # ix_outreach_tasks_volunteer_status; overdue from ix_outreach_tasks_status_due (only
    # the assigned tasks past due are read); attempts per volunteer.
    counts = session.execute(
        select(t.volunteer_id, t.status, func.count())
        .where(t.volunteer_id.is_not(None))  # no filter on status: the index covers it
        .group_by(t.volunteer_id, t.status)).all()
    overdue = dict(session.execute(
        select(t.volunteer_id, func.count())
        .where(t.status == TaskStatus.ASSIGNED.value, t.due_on < today)
        .group_by(t.volunteer_id)).all())
    tries = {vid: (n, ok) for vid, n, ok in session.execute(
        select(Attempt.volunteer_id, func.count(),
               func.sum(case((Attempt.outcome.in_(SUCCESS), 1), else_=0)))
        .where(Attempt.volunteer_id.is_not(None)).group_by(Attempt.volunteer_id))}
    by_status: dict[tuple[int, str], int] = {(vid, str(st)): n for vid, st, n in counts}
    stmt = (select(Volunteer.id, Volunteer.name, Branch.name, Volunteer.role, Volunteer.active)
            .join(Branch, Branch.id == Volunteer.branch_id)
            .order_by(Branch.name, Volunteer.id))
    if branch_id is not None:
        stmt = stmt.where(Volunteer.branch_id.in_(branch_ids_under(session, branch_id)))
    rows = []
    for vid, name, branch, role, active in session.execute(stmt):
        attempts, ok = tries.get(vid, (0, 0))
        attempts = _bool(attempts)
        rate = f"{100 * _bool(ok) / attempts:.1f}" if attempts else "-"
        rows.append({"id": vid, "name": name, "branch": branch, "role": str(role),
                     "active": "yes" if active else "no",
                     "open": by_status.get((vid, TaskStatus.ASSIGNED.value), 0),
                     "done": by_status.get((vid, TaskStatus.DONE.value), 0),
                     "overdue": _bool(overdue.get(vid)), "attempts": attempts,
                     "success rate": rate})
    return rows


# --- unreachable members ------------------------------------------------------------------


@requires(COORDINATOR)
def unreachable_list(session: Session, *, actor: Actor, today: dt.date | None = None,
                     period: str | None = None, branch_id: int | None = None,
                     file_name: str | None = None) -> list[dict]:
    """Members whose status is unreachable, with their family contact.

    CONTAINS CONTACT DETAILS (family contact name and phone): for coordinators only
    (checked here, `@requires`). Never put these rows in a Prefect artifact, a log or an
    error message. ``today`` and ``period`` are accepted for a uniform signature. The
    showing is logged (`tasks.ledger.access_log`, door ``unreachable``; ``file_name`` when the
    list goes to a file).
    """
    stmt = (select(Member.id, Member.ledger_no, Member.name, Branch.name,
                   Member.failed_contacts, Member.last_contact_on, Member.family_contact_name,
                   Member.family_contact_phone)
            .join(Branch, Branch.id == Member.branch_id)
            .where(Member.status == MemberStatus.UNREACHABLE.value)
            .order_by(Branch.name, Member.id))
    if branch_id is not None:
        stmt = stmt.where(Member.branch_id.in_(branch_ids_under(session, branch_id)))
    cols = ("id", "ledger_no", "name", "branch", "failed_contacts", "last_contact_on",
            "family_contact_name", "family_contact_phone")
    rows = [dict(zip(cols, r)) for r in session.execute(stmt)]
    from outreach.tasks.ledger.access_log import UNREACHABLE, note_shown

    note_shown(session, actor=actor, member_ids=[r["id"] for r in rows], door=UNREACHABLE,
               file_name=file_name)
    return rows


# --- movements ----------------------------------------------------------------------------


def _status_change(from_status: str, to_status: str) -> str:
    if to_status == MemberStatus.MOVED_OUT.value:
        return "moved out"
    if to_status in (MemberStatus.ACTIVE.value, MemberStatus.UNVERIFIED.value):
        return "came back"
    return f"moved out → {to_status.replace('_', ' ')}"


@requires(COORDINATOR)
def movements(session: Session, *, actor: Actor, since: dt.date | None = None,
              today: dt.date | None = None, period: str | None = None,
              branch_id: int | None = None) -> list[dict]:
    """Who moved away or came back, when, and who recorded it; oldest first.

    Rows come from the residence history (``local → away``, ``away → local``) and from
    lifecycle changes into or out of moved_out (``moved out``, ``came back``). ``since``
    keeps changes on or after that day; ``period`` (YYYY-MM) keeps that month only.
    """
    lo = hi = None
    if period is not None:
        first, last = month_bounds(period, today or dt.date.today())
        lo, hi = first, last + dt.timedelta(days=1)
    if since is not None:
        lo = max(lo, since) if lo else since
    mc, sc = MemberChange, MemberStatusChange
    residence = select(mc.member_id.label("member_id"), mc.at.label("at"),
                       mc.actor_id.label("actor_id"), literal("residence").label("source"),
                       mc.old_value.label("a"), mc.new_value.label("b"), mc.id.label("hid")
                       ).where(mc.field == "residence")
    status = select(sc.member_id, sc.at, sc.actor_id, literal("status"), sc.from_status,
                    sc.to_status, sc.id
                    ).where((sc.to_status == MemberStatus.MOVED_OUT.value)
                            | (sc.from_status == MemberStatus.MOVED_OUT.value))
    for bound, op in ((lo, "ge"), (hi, "lt")):
        if bound is not None:
            at = dt.datetime.combine(bound, dt.time())
            residence = residence.where(mc.at >= at if op == "ge" else mc.at < at)
            status = status.where(sc.at >= at if op == "ge" else sc.at < at)
    changes = union_all(residence, status).subquery()
    who = aliased(Volunteer)
    stmt = (select(changes.c.member_id, Member.ledger_no, Member.name, Branch.name,
                   changes.c.source, changes.c.a, changes.c.b, changes.c.at, who.name)
            .join(Member, Member.id == changes.c.member_id)
            .join(Branch, Branch.id == Member.branch_id)
            .outerjoin(who, who.id == changes.c.actor_id)
            .order_by(changes.c.at, changes.c.member_id, changes.c.source, changes.c.hid))
    if branch_id is not None:
        stmt = stmt.where(Member.branch_id.in_(branch_ids_under(session, branch_id)))
    rows = []
    for member_id, ledger_no, name, branch, source, a, b, at, recorded_by in \
            session.execute(stmt):
        change = (f"{a or '-'} → {b or '-'}" if source == "residence"
                  else _status_change(a, b))
        rows.append({"member_id": member_id, "ledger_no": ledger_no, "name": name,
                     "branch": branch, "change": change, "at": at,
                     "recorded_by": recorded_by or "system"})
    return rows


# --- markdown for Prefect -----------------------------------------------------------------


_RULE = "|---|---:|---:|---:|---:|---:|"


def _head(first: str) -> str:
    """The header of the markdown table, its first column ``first`` (branch or segment)."""
    return "| " + " | ".join([first, _("members"), _("reached"), _("overdue"),
                              _("unreachable"), _("never reached (3 runs)")]) + " |"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def coverage_markdown(rows: list[dict], *, title: str | None = None) -> str:
    """A short markdown summary of `coverage` rows: counts and branch names only."""
    title = _("Coverage") if title is None else title
    total = next((r for r in rows if "TOTAL" in (r.get("branch"), r.get("segment"))), None)
    if total is None or not total.get("members"):
        return f"# {title}\n\n" + _("No members to cover.")
    lines = [
        f"# {title}",
        "",
        _("- members: **{n}**").format(n=total["members"]),
        _("- reached this period: **{n}** ({pct})").format(
            n=total["reached"], pct=_pct(total["reached"], total["members"])),
        _("- overdue: **{n}**").format(n=total["overdue"]),
        _("- unreachable: **{n}**").format(n=total["unreachable"]),
        _("- never reached in the last three campaign runs: **{n}**").format(
            n=total["never_reached_3"]),
        "",
    ]
    body = [r for r in rows if r is not total]
    if body and "branch" in body[0]:
        per: dict[str, dict[str, int]] = {}
        for r in body:
            agg = per.setdefault(r["branch"], dict.fromkeys(COVERAGE_COLUMNS, 0))
            for col in COVERAGE_COLUMNS:
                agg[col] += r[col]
        lines += [_head(_("branch")), _RULE]
        for name, agg in per.items():
            clean = for_markdown(name)
            lines.append(f"| {clean} | {agg['members']} | {agg['reached']} "
                         f"({_pct(agg['reached'], agg['members'])}) | {agg['overdue']} | "
                         f"{agg['unreachable']} | {agg['never_reached_3']} |")
    elif body:
        lines += [_head(_("segment")), _RULE]
        for r in body:
            lines.append(f"| {_(r['segment'])} | {r['members']} | {r['reached']} | {r['overdue']} "
                         f"| {r['unreachable']} | {r['never_reached_3']} |")
    return "\n".join(lines)


__all__ = ["coverage", "coverage_by_segment", "coverage_markdown", "movements",
           "unreachable_list", "volunteer_workload"]
