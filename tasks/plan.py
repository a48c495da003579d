"""Planning a campaign run: who gets a task this period, and which volunteer does it.

The rules of planning, as Session functions and pure Python; the set-based jobs that run
them over a whole ledger (`plan_range`, `assign_open`, `plan_campaign`, `preview`) are in
`tasks.plan_jobs`.

Transactions: the functions here take a Session and flush, or take plain values; the
caller commits.

Targeting (members in `CONTACTABLE_MEMBER` only: never deceased, moved out or
do-not-contact; optionally only one branch and every branch nested under it):

* survey — not confirmed within the campaign's ``window_days``;
* phone_visit — living away, not reached within ``cadence_days``;
* delivery — homebound and living locally (away members get phone visits instead);
* every kind skips a member who already has an open or assigned task of the same kind
  in another run, and a member who already has a task in this run (idempotent rerun).

The assignment rule (`match`), applied range by range in id order with loads read fresh
from the database at the start of each range:

* continuity: a member whose ``last_reached_by`` volunteer may take tasks, has room and
  belongs to the member's branch or one of its ancestors goes back to that volunteer;
* then level by level up the branch tree (own branch, parent, grandparent …), the members
  still waiting, in id order, each go to the *least-loaded* volunteer with room of their
  branch at that level, ties to the lowest volunteer id. A volunteer never gets a task
  while another volunteer of the same branch with room has a lower load, so the loads
  planned within a branch level end up within one task of each other, except for
  volunteers at capacity or already busier before. (Computed as water-filling: slot k of
  a volunteer with load L ranks (L + k, id); the n-th waiting member takes the n-th
  slot. `tests/tasks/test_plan.py` checks it against the one-by-one rule.)
* only active volunteers with role ``volunteer`` take planned tasks (coordinators keep
  their capacity for escalations). Load = the volunteer's assigned tasks of every run and
  kind, so capacity holds across runs. What finds no room stays ``open`` and is counted;
  `assign_open` hands it out later, by the same rule.

A task closes (expires) at the end of its period's month, but never sooner than two due
windows after planning: ``closes_on = max(last day of period, today + 2 × due_days)``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy import Connection, case, func, select
from sqlalchemy.orm import Session

from outreach.db.errors import BadInput, NotFound
from outreach.i18n import _
from outreach.db.machines import CONTACTABLE_MEMBER, TaskStatus
from outreach.db.models import Branch, Campaign, CampaignKind, CampaignRun, Member, OutreachTask, Role
from outreach.db.state import first_or_add
from outreach.tasks import rules
from outreach.tasks.rules import BATCH_SIZE, check_period, period_end  # noqa: F401  (re-exported)

#: Members per range (one Prefect task each in the flows): `rules.BATCH_SIZE`'s default.
DEFAULT_BATCH = BATCH_SIZE.default
#: Key of the PostgreSQL advisory lock taken by whoever hands out tasks to volunteers.
ASSIGN_LOCK = 7_204_311
#: Roles that receive planned tasks.
ASSIGNABLE_ROLES = (Role.VOLUNTEER.value,)
PLANNED_KINDS = (CampaignKind.SURVEY, CampaignKind.PHONE_VISIT, CampaignKind.DELIVERY)
#: Kinds whose open tasks `assign_open` hands out by the same rule: the planned ones and a
#: meeting's notices and make-up study (`tasks.engine`); escalations go to coordinators.
HANDED_OUT_KINDS = PLANNED_KINDS + (CampaignKind.NOTICE, CampaignKind.MAKE_UP)

REASON_PLANNED = "planned"
REASON_ASSIGNED = "assigned"
REASON_CONTINUITY = "assigned (continuity)"
REASON_PARENT = "assigned (parent branch)"

CONTACTABLE_SQL = ", ".join(f"'{s}'" for s in sorted(CONTACTABLE_MEMBER))
ROLES_SQL = ", ".join(f"'{r}'" for r in ASSIGNABLE_ROLES)
OPEN, ASSIGNED = TaskStatus.OPEN.value, TaskStatus.ASSIGNED.value

#: reason codes of a pick (key, volunteer id or None, code) → status_reason of the task.
CODES = {0: REASON_PLANNED, 1: REASON_CONTINUITY, 2: REASON_ASSIGNED, 3: REASON_PARENT}
_CONTINUITY, _OWN, _PARENT = 1, 2, 3
CONTINUITY, OWN, PARENT = _CONTINUITY, _OWN, _PARENT
REASON_SQL = "CASE p.reason " + " ".join(
    f"WHEN {code} THEN '{reason}'" for code, reason in CODES.items()) + " END"


# --- campaign and run -------------------------------------------------------------------


def check_kind(kind: CampaignKind | str) -> CampaignKind:
    """``kind`` as a CampaignKind, else BadInput naming the kinds a campaign plans."""
    try:
        return CampaignKind(kind)
    except ValueError:
        names = ", ".join(k.value for k in PLANNED_KINDS)
        raise BadInput(_("unknown campaign kind {kind}; use one of: {names}").format(
            kind=repr(str(kind)[:40]), names=names)) from None


def check_planned(kind: CampaignKind | str) -> CampaignKind:
    """``kind`` if a campaign plans it (escalations are made by follow-up)."""
    kind = check_kind(kind)
    if kind not in PLANNED_KINDS:
        raise BadInput(_("{kind} tasks are made by follow-up, not planned by a campaign")
                       .format(kind=kind.value))
    return kind


def ensure_campaign(session: Session, kind: CampaignKind | str) -> Campaign:
    """The campaign of ``kind`` (named after it), created with the model's defaults."""
    kind = check_kind(kind)
    return first_or_add(session, select(Campaign).where(Campaign.name == kind.value),
                        lambda: Campaign(name=kind.value, kind=kind))


def open_run(session: Session, kind: CampaignKind | str, period: str, *,
             material: str | None = None) -> CampaignRun:
    """The run of ``kind`` for ``period`` (YYYY-MM), created if missing (flushes only)."""
    period = check_period(period)
    kind = check_planned(kind)
    campaign = ensure_campaign(session, kind)
    query = select(CampaignRun).where(CampaignRun.campaign_id == campaign.id,
                                      CampaignRun.period == period)
    run = first_or_add(session, query, lambda: CampaignRun(
        campaign_id=campaign.id, period=period, material=material))
    if material and not run.material:
        run.material = material
        session.flush()
    return run


def settings(due_days: int, max_attempts: int) -> tuple[int, int]:
    """A run's due days and attempts, checked against `rules.DUE_DAYS` / `MAX_ATTEMPTS`."""
    return rules.DUE_DAYS.check(due_days), rules.MAX_ATTEMPTS.check(max_attempts)


def closes_on(period: str, today: dt.date, due_days: int) -> dt.date:
    """When a task of this run expires: end of the period, at least two due windows away."""
    return max(period_end(period), today + dt.timedelta(days=2 * due_days))


# --- targeting ----------------------------------------------------------------------------


def target_sql(kind: CampaignKind, branches: list[int] | None) -> str:
    """The WHERE clause of the targeting rule for ``kind`` (members aliased ``m``;
    parameters ``:lo``, ``:hi`` and ``:since`` or ``:yes``)."""
    rule = {
        CampaignKind.SURVEY: "(m.confirmed_on IS NULL OR m.confirmed_on < :since)",
        CampaignKind.PHONE_VISIT: "m.residence = 'away' AND "
                                  "(m.last_reached_on IS NULL OR m.last_reached_on < :since)",
        CampaignKind.DELIVERY: "m.homebound = :yes AND m.residence = 'local'",
    }[kind]
    where = f"m.id >= :lo AND m.id < :hi AND m.status IN ({CONTACTABLE_SQL}) AND {rule}"
    if branches is not None:  # none at all: a shard with nothing under the branch asked
        where += (f" AND m.branch_id IN ({', '.join(str(int(b)) for b in sorted(branches))})"
                  if branches else " AND 1 = 0")
    return where


#: state of a targeted member: to plan now, already has a task in this run, busy elsewhere.
TO_PLAN, IN_RUN, BUSY = 0, 1, 2


def state_sql() -> str:
    """The state column (`TO_PLAN`, `IN_RUN`, `BUSY`) of a targeted member ``m`` for run
    ``:run`` of kind ``:kind``: the same expression for planning and for the dry run."""
    return f"""COALESCE((SELECT MIN(CASE WHEN t.run_id = :run THEN {IN_RUN} ELSE {BUSY} END)
                     FROM outreach_tasks t
                     WHERE t.member_id = m.id AND (t.run_id = :run OR
                           (t.kind = :kind AND t.status IN ('{OPEN}', '{ASSIGNED}')))),
                    {TO_PLAN})"""


def target_params(kind: CampaignKind, today: dt.date, window_days: int,
                  cadence_days: int) -> dict:
    """The ``:since`` / ``:yes`` parameters of `target_sql` for ``kind`` as of ``today``."""
    if kind is CampaignKind.SURVEY:
        return {"since": today - dt.timedelta(days=window_days)}
    if kind is CampaignKind.PHONE_VISIT:
        return {"since": today - dt.timedelta(days=cadence_days)}
    return {"yes": True}


def run_and_campaign(conn: Connection | Session, run_id: int):
    """(period, kind, window_days, cadence_days, max_attempts, due_days) of a run."""
    c, r = Campaign, CampaignRun
    row = conn.execute(
        select(r.period, c.kind, c.window_days, c.cadence_days, c.max_attempts, c.due_days)
        .join(c, c.id == r.campaign_id).where(r.id == run_id)).first()
    if row is None:
        raise NotFound(_("no campaign run {id}").format(id=run_id))
    return row


# --- matching members to volunteers (pure Python over ints) -------------------------------


def counts_by_reason(picks: list[tuple[int, int | None, int]]) -> dict[int, int]:
    out = {0: 0, _CONTINUITY: 0, _OWN: 0, _PARENT: 0}
    for _k, _v, r in picks:
        out[r] += 1
    return out


def _slots(vids: list[int], state: list[list[int]], need: int) -> list[int]:
    """The first ``need`` free slots of these volunteers (ids ascending, ``state`` their
    [branch, capacity, load]) in (load + k, id) order, as volunteer ids: slot k of a
    volunteer with load L ranks L + k, ties to the lower id.

    The water level — the lowest rank ``top`` whose slots together reach ``need`` — is
    found by bisection, then only the slots up to it are made (one int each, rank and id
    in one sortable number) and sorted: about ``need`` + len(vids) values. Filling level
    by level instead visited every volunteer of the branch at every level: `match` over a
    survey's 124,862 members and 5,000 volunteers took 0.30–0.38 s of CPU, now 0.16 s.
    """
    if need <= 0:
        return []
    room = [(s[2], s[1]) for s in state if s[2] < s[1]]
    if not room:
        return []
    top = max(cap for _load, cap in room)
    if sum(cap - load for load, cap in room) > need:
        lo, hi = min(load for load, _cap in room) + 1, top
        while lo < hi:  # the lowest level whose slots reach need
            mid = (lo + hi) // 2
            if sum(min(cap, mid) - load for load, cap in room if load < mid) >= need:
                hi = mid
            else:
                lo = mid + 1
        top = lo
    keys: list[int] = []
    step = 1 << 64  # rank above, volunteer id (< 2**63) below
    for v, s in zip(vids, state):
        if s[2] < s[1]:
            keys.extend(range(v + (s[2] + 1) * step, v + (min(s[1], top) + 1) * step, step))
    keys.sort()
    mask = step - 1
    return [k & mask for k in keys[:need]]


def match(rows: list[tuple[int, int, int | None]], volunteers: dict[int, list[int]],
          chains: dict[int, tuple[int, ...]], barred: dict[int, int] | None = None,
          ) -> list[tuple[int, int | None, int]]:
    """Give each row (key, branch_id, last_reached_by), taken in key order, a volunteer.

    ``volunteers``: id → [branch_id, capacity, load] of the volunteers who may take
    tasks (loads are updated in place); ``chains``: branch → (itself, parent, …).
    Returns (key, volunteer_id or None, reason code) for every row, in key order.

    1. continuity: a row goes back to ``last_reached_by`` when that volunteer is in
       ``volunteers``, has room, and belongs to the row's branch or one of its ancestors
       (rows in key order, so a volunteer with k free places gets the first k);
    2. then level by level (depth 0 = the row's own branch, 1 = its parent, …): the rows
       still waiting are grouped by their ancestor at that depth, and each group, in key
       order, is matched to the free *slots* of that ancestor's volunteers taken in order
       (load + k, volunteer id) — slot k of a volunteer with load L is its (L + k)-th
       task. That is water-filling, exactly what handing the rows one by one to the
       least-loaded volunteer of the branch with room (ties: lowest id) does: a
       volunteer gets a task only if no volunteer of that branch with room has a lower
       load. Rows of a group beyond the branch's free slots wait for the next level;
       rows with no ancestor left stay open (volunteer None, code 0).

    ``barred``: key → a volunteer who must not get that row (who handed the task back,
    `OutreachTask.released_by`): such a row skips continuity to them and, at each level,
    goes to the least-loaded volunteer with room other than them (ties: lowest id).

    Pure Python over ints; no database access.
    """
    barred = barred or {}
    n = len(rows)
    vid_out: list[int | None] = [None] * n
    why = [0] * n
    anc = {b: frozenset(c) for b, c in chains.items()}
    vget = volunteers.get
    waiting: list[int] = []
    wait = waiting.append
    for i, (key, branch, last) in enumerate(rows):
        if last is not None and barred.get(key) != last:
            v = vget(last)
            if v is not None and v[2] < v[1] and v[0] in anc.get(branch, ()):
                v[2] += 1
                vid_out[i] = last
                why[i] = _CONTINUITY
                continue
        wait(i)
    free: dict[int, list[int]] = {}  # branch → ids (ascending) of its volunteers with room
    for vid in sorted(volunteers):
        v = volunteers[vid]
        if v[2] < v[1]:
            free.setdefault(v[0], []).append(vid)
    depth = 0
    while waiting and free:
        reason = _OWN if depth == 0 else _PARENT
        groups: dict[int, list[int]] = {}
        for i in waiting:  # in key order, so every group is too
            chain = chains.get(rows[i][1]) or (rows[i][1],)
            if depth < len(chain):
                groups.setdefault(chain[depth], []).append(i)
        waiting = []
        for branch, idxs in groups.items():
            vids = free.get(branch)
            if not vids:
                waiting += idxs
                continue
            state = [volunteers[v] for v in vids]
            one_by_one = []
            if barred:
                here = set(vids)
                one_by_one = [i for i in idxs if barred.get(rows[i][0]) in here]
                if one_by_one:
                    skip = set(one_by_one)
                    idxs = [i for i in idxs if i not in skip]
            slots = _slots(vids, state, len(idxs))
            for i, v in zip(idxs, slots):
                vid_out[i] = v
                why[i] = reason
            for v, k in Counter(slots).items():
                volunteers[v][2] += k
            waiting += idxs[len(slots):]
            for i in one_by_one:
                no = barred[rows[i][0]]
                pick = min(((s[2], v) for v, s in zip(vids, state)
                            if v != no and s[2] < s[1]), default=None)
                if pick is None:
                    waiting.append(i)
                    continue
                volunteers[pick[1]][2] += 1
                vid_out[i] = pick[1]
                why[i] = reason
            free[branch] = [v for v, s in zip(vids, state) if s[2] < s[1]]
        waiting.sort()
        free = {b: vids for b, vids in free.items() if vids}
        depth += 1
    return list(zip([r[0] for r in rows], vid_out, why))



# --- reporting ----------------------------------------------------------------------------


def summary(session: Session | Connection, run_id: int) -> list[dict]:
    """Per branch of the run's tasks: targeted, assigned (has a volunteer), unassigned (open).

    Ids, branch names and counts only — never a phone number or an address.
    """
    t, m, b = OutreachTask, Member, Branch
    rows = session.execute(
        select(b.id, b.name, func.count(t.id),
               func.count(t.volunteer_id),
               func.sum(case((t.status == OPEN, 1), else_=0)))
        .select_from(t).join(m, m.id == t.member_id).join(b, b.id == m.branch_id)
        .where(t.run_id == run_id).group_by(b.id, b.name).order_by(b.name)).all()
    return [{"branch_id": bid, "branch": name, "targeted": n, "assigned": a,
             "unassigned": int(o or 0)} for bid, name, n, a, o in rows]
