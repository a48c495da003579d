"""Who does a task: the assignment rule that campaign planning and the task engine share.

The rule (`match`), applied range by range in id order with loads read fresh from the
database at the start of each range:

* continuity: a member whose ``last_reached_by`` volunteer may take tasks, has room and
  belongs to the member's branch or one of its ancestors goes back to that volunteer;
* then level by level up the branch tree (own branch, parent, grandparent …), the members
  still waiting, in id order, each go to the *least-loaded* volunteer with room of their
  branch at that level, ties to the lowest volunteer id (water-filling: slot k of a
  volunteer with load L ranks (L + k, id); the n-th waiting member takes the n-th slot.
  `tests/tasks/test_plan.py` checks it against the one-by-one rule);
* only active volunteers with role ``volunteer`` take handed-out tasks. Load = the
  volunteer's assigned tasks of every run and kind, so capacity holds across runs.

And how the picks are written: into a temporary table (`write_picks`), then ONE
``INSERT … SELECT`` of the tasks (`insert_tasks`); the volunteers and their loads are read
by `volunteers`. Planning (`tasks.campaigns.plan_jobs`) and the task engine
(`tasks.work.engine.give_tasks`) both write so.

Functions here take a Connection and run in the caller's transaction; `match` is pure
Python over ints.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy import Connection, Date, DateTime, bindparam, text

from outreach.db.dialect import fetch, fill_temp, hashes_big_sets, sql_true
from outreach.db.machines import CONTACTABLE_MEMBER, TaskStatus
from outreach.db.models import Role

#: Key of the PostgreSQL advisory lock taken by whoever hands out tasks to volunteers.
ASSIGN_LOCK = 7_204_311
#: Roles that receive planned tasks.
ASSIGNABLE_ROLES = (Role.VOLUNTEER.value,)

REASON_PLANNED = "planned"
REASON_ASSIGNED = "assigned"
REASON_CONTINUITY = "assigned (continuity)"
REASON_PARENT = "assigned (parent branch)"

CONTACTABLE_SQL = ", ".join(f"'{s}'" for s in sorted(CONTACTABLE_MEMBER))
ROLES_SQL = ", ".join(f"'{r}'" for r in ASSIGNABLE_ROLES)
OPEN, ASSIGNED = TaskStatus.OPEN.value, TaskStatus.ASSIGNED.value

#: reason codes of a pick (key, volunteer id or None, code) → status_reason of the task.
CODES = {0: REASON_PLANNED, 1: REASON_CONTINUITY, 2: REASON_ASSIGNED, 3: REASON_PARENT}
CONTINUITY, OWN, PARENT = 1, 2, 3
REASON_SQL = "CASE p.reason " + " ".join(
    f"WHEN {code} THEN '{reason}'" for code, reason in CODES.items()) + " END"


# --- matching members to volunteers (pure Python over ints) -------------------------------


def counts_by_reason(picks: list[tuple[int, int | None, int]]) -> dict[int, int]:
    out = {0: 0, CONTINUITY: 0, OWN: 0, PARENT: 0}
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
                why[i] = CONTINUITY
                continue
        wait(i)
    free: dict[int, list[int]] = {}  # branch → ids (ascending) of its volunteers with room
    for vid in sorted(volunteers):
        v = volunteers[vid]
        if v[2] < v[1]:
            free.setdefault(v[0], []).append(vid)
    depth = 0
    while waiting and free:
        reason = OWN if depth == 0 else PARENT
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


# --- writing the picks ---------------------------------------------------------------------

# One row per task to write (planning: every targeted member still without a task in the
# run, key = member id) or to hand out (assign_open: key = task id); volunteer_id NULL and
# reason 0 = stays open. Filled from Python, read by ONE statement.
PICK_COLUMNS = (("key", "BIGINT NOT NULL", "INTEGER PRIMARY KEY"),
                 ("volunteer_id", "BIGINT", "BIGINT"),
                 ("reason", "INTEGER NOT NULL", "INTEGER NOT NULL"))


def write_picks(conn: Connection, rows: list[tuple[int, int | None, int]]) -> None:
    """Empty plan_pick and fill it with ``rows`` (key, volunteer_id or None, reason code)."""
    fill_temp(conn, "plan_pick", PICK_COLUMNS, rows)


def insert_tasks(conn: Connection, run_id: int, kind: str, max_attempts: int,
                  due_on: dt.date, closes_on: dt.date, now: dt.datetime) -> int:
    """ONE ``INSERT … SELECT`` of a task per row of plan_pick (``assigned`` to its volunteer,
    or ``open``), skipping members that already have one in the run; returns how many.
    Planning (`plan_range`) and the meeting engine (`tasks.work.engine.give_tasks`) write so."""
    result = conn.execute(text(f"""
        INSERT INTO outreach_tasks (run_id, member_id, kind, status, volunteer_id,
            status_by, status_reason, attempts, max_attempts, due_on, closes_on,
            pending_confirmation, version, created_at)
        SELECT :run, p.key, :kind,
               CASE WHEN p.volunteer_id IS NULL THEN '{OPEN}' ELSE '{ASSIGNED}' END,
               p.volunteer_id, NULL, {REASON_SQL}, 0,
               :max_attempts, :due_on, :closes_on, :no, 1, :now
        FROM plan_pick p
        WHERE true
        ORDER BY p.key
        ON CONFLICT (run_id, member_id) DO NOTHING""")
        .bindparams(bindparam("due_on", type_=Date), bindparam("closes_on", type_=Date),
                    bindparam("now", type_=DateTime)),
        {"run": run_id, "kind": kind, "max_attempts": max_attempts, "due_on": due_on,
         "closes_on": closes_on, "no": False, "now": now})
    return result.rowcount


#: (SQLite, PostgreSQL): read only the volunteers of the branches a range may use when they
#: are at most 1/2 (SQLite) or 1/8 (PostgreSQL) of the tree; else every load in one pass.
#: PostgreSQL counts one volunteer's load about 5 times slower than the hashed pass does
#: per volunteer (5,000,000 members, 125,000 volunteers: 0.34 s for the 2 of 48 branches
#: of one range, 2.7 s for 13 of them, 2.2 s for all); SQLite counts every load one
#: volunteer at a time anyway.
READ_ALL_FROM = {False: 2, True: 8}


def volunteers_with_room(conn: Connection, rows: list[tuple[int, int, int | None]] | None = None,
                chains: dict[int, tuple[int, ...]] | None = None) -> dict[int, list[int]]:
    """Active volunteers with room: id → [branch_id, capacity, load].

    Load = assigned tasks of every run and kind. Measured at 25,000 volunteers and
    530,000 assigned tasks: on SQLite one covering-index seek per volunteer on
    (volunteer_id, status) takes 0.05 s (a GROUP BY 0.5 s: SQLite picks the status index
    and sorts); on PostgreSQL one hashed GROUP BY takes 0.17 s (the correlated count
    0.6 s: fresh rows are not all-visible, so no index-only scan).

    ``rows`` (key, branch_id, last_reached_by) and ``chains``: only the volunteers `match`
    can give those rows — those of the rows' branches and the branches above them
    (`relevant_branches`) — when those are a small part of the tree (`READ_ALL_FROM`),
    their loads counted one volunteer at a time. `match` never picks anybody else
    (continuity too asks for a volunteer of the row's chain), so the picks are the same;
    what changes is the cost. Reading every volunteer's load in every range
    grows with the square of the ledger (more ranges, each reading more volunteers): at
    5,000,000 members (125,000 volunteers, 50 ranges) it was 63 s of a 326 s survey on
    PostgreSQL. Where member ids follow the branches (a ledger imported branch by
    branch), a range reads only its own branches' volunteers. (The seed spreads every
    range over all its branches: there every range still reads them all.)
    """
    only = relevant_branches(rows, chains) if rows is not None and chains else None
    if only is not None and len(only) * READ_ALL_FROM[hashes_big_sets(conn)] > len(chains):
        only = None  # much of the tree: one pass over every load is cheaper
    where = "" if only is None else (
        f" AND v.branch_id IN ({', '.join(str(int(b)) for b in sorted(only))})" if only
        else " AND 1 = 0")
    if hashes_big_sets(conn) and only is None:
        rows_ = fetch(conn, f"""
            SELECT v.id, v.branch_id, v.capacity, COALESCE(n.load, 0)
            FROM volunteers v LEFT JOIN (
                SELECT volunteer_id, COUNT(*) AS load FROM outreach_tasks
                WHERE status = '{ASSIGNED}' AND volunteer_id IS NOT NULL
                GROUP BY volunteer_id) n ON n.volunteer_id = v.id
            WHERE v.active AND v.role IN ({ROLES_SQL}) AND v.capacity > 0""")
    else:
        rows_ = fetch(conn, f"""
            SELECT v.id, v.branch_id, v.capacity,
                   (SELECT COUNT(*) FROM outreach_tasks t
                    WHERE t.volunteer_id = v.id AND t.status = '{ASSIGNED}')
            FROM volunteers v
            WHERE v.active = {sql_true(conn)} AND v.role IN ({ROLES_SQL})
              AND v.capacity > 0{where}""")
    return {vid: [branch, cap, load] for vid, branch, cap, load in rows_ if load < cap}


def relevant_branches(rows: list[tuple[int, int, int | None]],
                      chains: dict[int, tuple[int, ...]]) -> set[int]:
    """The branches whose volunteers `match` may give ``rows`` (key, branch_id, …): each
    row's branch and the branches above it."""
    out: set[int] = set()
    for branch in {r[1] for r in rows}:
        out.update(chains.get(branch) or (branch,))
    return out
