"""Planning a campaign run: who gets a task this period, and which volunteer does it.

Plain functions, no Prefect: the flows wrap them. A campaign over a million members is ten
short transactions over ranges of member ids (`DEFAULT_BATCH`). In each, the database picks
the targets, Python matches them to volunteers over plain ints, and ONE ``INSERT … SELECT``
writes the range's tasks. Nothing but ids ever leaves the database.

Targeting (members in `CONTACTABLE_MEMBER` only: never deceased, moved out or
do-not-contact; optionally only one branch and every branch nested under it):

* survey — not confirmed within the campaign's ``window_days``;
* phone_visit — living away, not reached within ``cadence_days``;
* delivery — homebound and living locally (away members get phone visits instead);
* every kind skips a member who already has an open or assigned task of the same kind
  in another run, and a member who already has a task in this run (idempotent rerun).

One range, one transaction (`plan_range`):

1. one SELECT returns (member id, branch id, last_reached_by, state) for the range's
   targeted members, state = to plan / already has a task in this run / busy elsewhere;
2. one SELECT returns the volunteers who may take tasks and their load (`_volunteers`);
3. `match` (pure Python) gives each member to plan a volunteer, or none;
4. the picks — (member id, volunteer id or NULL, reason code), three ints a row — go into
   a temporary table (executemany on SQLite, COPY on PostgreSQL), and one INSERT … SELECT
   from it writes the tasks, ``assigned`` (an initial transition) or ``open``. The
   database's triggers write one history row per task either way; on PostgreSQL they are
   statement triggers, which is why the rows go in by one statement and not by
   executemany. ``ON CONFLICT (run_id, member_id) DO NOTHING`` backs up idempotency.

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
  the flow reports it and `assign_open` hands it out later, by the same rule.

A task closes (expires) at the end of its period's month, but never sooner than two due
windows after planning: ``closes_on = max(last day of period, today + 2 × due_days)``.

Concurrency and crashes: SQLite writers queue on ``BEGIN IMMEDIATE``; on PostgreSQL every
range takes a transaction-scoped advisory lock (`ASSIGN_LOCK`) before it reads its targets
and the loads, so two planners never both hand out a volunteer's last free slot nor plan
the same member. Each range commits on its own: a run killed half-way leaves whole ranges
behind, and the rerun skips members that already have a task in the run.

Speed (bench/bench_campaign.py, 1,000,000 members, 25,000 volunteers, 624,112 tasks of
which 532,854 assigned, ranges of 100,000, 2 shared cores, medians of 3): SQLite
plan+assign 10.0 s against 5.4 s for the raw INSERT … SELECT of the same targeting as open
tasks (1.84×) and 7.4 s for the raw INSERT … SELECT of exactly the plan's rows (1.35×);
PostgreSQL 26.4 s against 16.5 s and 21.4 s (1.60×, 1.23×). What remains is the INSERT
itself — its indexes, CHECKs, foreign keys and history triggers cost the same in the raw
statement — plus, per range, the target SELECT, the load count, `match` and the
temporary table.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections import Counter

from sqlalchemy import Connection, Date, DateTime, Engine, bindparam, case, func, select, text
from sqlalchemy.orm import Session

from db import crashpoints
from db.errors import BadInput, NotFound
from db.machines import CONTACTABLE_MEMBER, TaskStatus
from db.models import Branch, Campaign, CampaignKind, CampaignRun, Member, OutreachTask, Role
from db.session import writer
from db.state import first_or_add

#: Members per range (one Prefect task each in the flows). Each range pays a fixed cost
#: (counting every volunteer's load, rewriting the same index pages at its commit), so a
#: million members go in 10 ranges of 100,000: one range's transaction takes about 1 s on
#: SQLite here (a volunteer's command waits at most that for the writer lock) and 3 s on
#: PostgreSQL (where it blocks no reader); ranges of 50,000 cost about 5% more in all.
DEFAULT_BATCH = 100_000
#: Key of the PostgreSQL advisory lock taken by whoever hands out tasks to volunteers.
ASSIGN_LOCK = 7_204_311
#: Roles that receive planned tasks.
ASSIGNABLE_ROLES = (Role.VOLUNTEER.value,)
PLANNED_KINDS = (CampaignKind.SURVEY, CampaignKind.PHONE_VISIT, CampaignKind.DELIVERY)

REASON_PLANNED = "planned"
REASON_ASSIGNED = "assigned"
REASON_CONTINUITY = "assigned (continuity)"
REASON_PARENT = "assigned (parent branch)"

_PERIOD = re.compile(r"^(19\d\d|20\d\d|2100)-(0[1-9]|1[0-2])$")
_CONTACTABLE = ", ".join(f"'{s}'" for s in sorted(CONTACTABLE_MEMBER))
_ROLES = ", ".join(f"'{r}'" for r in ASSIGNABLE_ROLES)
_OPEN, _ASSIGNED = TaskStatus.OPEN.value, TaskStatus.ASSIGNED.value


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# --- campaign and run -------------------------------------------------------------------


def _kind(kind: CampaignKind | str) -> CampaignKind:
    try:
        return CampaignKind(kind)
    except ValueError:
        names = ", ".join(k.value for k in PLANNED_KINDS)
        raise BadInput(f"unknown campaign kind {kind!r}; use one of: {names}") from None


def ensure_campaign(session: Session, kind: CampaignKind | str) -> Campaign:
    """The campaign of ``kind`` (named after it), created with the model's defaults."""
    kind = _kind(kind)
    return first_or_add(session, select(Campaign).where(Campaign.name == kind.value),
                        lambda: Campaign(name=kind.value, kind=kind))


def check_period(period: str) -> str:
    """``period`` if it reads YYYY-MM, else BadInput."""
    if not isinstance(period, str) or not _PERIOD.match(period.strip()):
        raise BadInput(f"period must read YYYY-MM (for example 2026-11), not {period!r}")
    return period.strip()


def period_end(period: str) -> dt.date:
    """The last day of a YYYY-MM period."""
    year, month = (int(x) for x in check_period(period).split("-"))
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def open_run(session: Session, kind: CampaignKind | str, period: str, *,
             material: str | None = None) -> CampaignRun:
    """The run of ``kind`` for ``period`` (YYYY-MM), created if missing (flushes only)."""
    period = check_period(period)
    kind = _kind(kind)
    if kind not in PLANNED_KINDS:
        raise BadInput(f"{kind.value} tasks are made by follow-up, not planned by a campaign")
    campaign = ensure_campaign(session, kind)
    query = select(CampaignRun).where(CampaignRun.campaign_id == campaign.id,
                                      CampaignRun.period == period)
    run = first_or_add(session, query, lambda: CampaignRun(
        campaign_id=campaign.id, period=period, material=material))
    if material and not run.material:
        run.material = material
        session.flush()
    return run


# --- ranges -----------------------------------------------------------------------------


def id_ranges(engine: Engine | Connection, *, size: int = DEFAULT_BATCH) -> list[tuple[int, int]]:
    """Half-open ranges ``[lo, hi)`` of ``size`` ids covering members.id (min..max)."""
    if size <= 0:
        raise BadInput("the batch size must be a positive number")
    stmt = select(func.min(Member.id), func.max(Member.id))
    if isinstance(engine, Connection):
        lo, hi = engine.execute(stmt).one()
    else:
        with engine.connect() as conn:
            lo, hi = conn.execute(stmt).one()
    if lo is None:
        return []
    return [(start, min(start + size, hi + 1)) for start in range(lo, hi + 1, size)]


# --- the work table ------------------------------------------------------------------------

# One row per task to write (planning: every targeted member still without a task in the
# run, key = member id) or to hand out (assign_open: key = task id); volunteer_id NULL and
# reason 0 = stays open. Filled from Python (executemany / COPY), read by ONE statement.
_PICK_DDL = """CREATE TEMP TABLE IF NOT EXISTS plan_pick (
    key {key}, volunteer_id BIGINT, reason INTEGER NOT NULL){oncommit}"""
#: reason codes of plan_pick → status_reason of the task (and of its history row).
_CODES = {0: REASON_PLANNED, 1: REASON_CONTINUITY, 2: REASON_ASSIGNED, 3: REASON_PARENT}
_CONTINUITY, _OWN, _PARENT = 1, 2, 3
_NULL = "\\N"  # NULL in COPY's text format
_REASON_SQL = "CASE p.reason " + " ".join(
    f"WHEN {code} THEN '{reason}'" for code, reason in _CODES.items()) + " END"


def _is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _lock(conn: Connection) -> None:
    """PostgreSQL: take the assignment lock and set this transaction up for bulk work.

    ``jit = off``: the JIT compiles every statement afresh (about 0.1 s each here) and
    these are short set-based statements it does not speed up. ``work_mem``: the sort of
    a range's 100,000 picks stays in memory instead of a temp file. Both are SET LOCAL,
    gone at commit. (``synchronous_commit = off`` would be safe too — a crash loses at
    most the last ranges, which the idempotent rerun plans again — but it would only save
    one WAL flush per range, ten per million members, so it is not used.)
    """
    if _is_pg(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ASSIGN_LOCK})
        conn.exec_driver_sql("SET LOCAL jit = off")
        conn.exec_driver_sql("SET LOCAL work_mem = '32MB'")


def _write_picks(conn: Connection, rows: list[tuple[int, int | None, int]]) -> None:
    """Empty plan_pick and fill it with ``rows`` (key, volunteer_id or None, reason code)."""
    pg = _is_pg(conn)
    conn.exec_driver_sql(_PICK_DDL.format(
        oncommit=" ON COMMIT DELETE ROWS" if pg else "",
        # SQLite: the rowid itself, so the table is stored (and read) in key order.
        key="BIGINT NOT NULL" if pg else "INTEGER PRIMARY KEY"))
    conn.exec_driver_sql("DELETE FROM plan_pick")
    if not rows:
        return
    if pg:  # COPY: one round trip for the whole batch
        buf = "".join(f"{k}\t{_NULL if v is None else v}\t{r}\n" for k, v, r in rows)
        with conn.connection.driver_connection.cursor() as cur:
            with cur.copy("COPY plan_pick (key, volunteer_id, reason) FROM STDIN") as cp:
                cp.write(buf)
    else:
        conn.connection.driver_connection.executemany(
            "INSERT INTO plan_pick (key, volunteer_id, reason) VALUES (?, ?, ?)", rows)


# --- matching members to volunteers (pure Python over ints) -------------------------------


def _chains(conn: Connection) -> dict[int, tuple[int, ...]]:
    """Every branch → (itself, its parent, grandparent, …) up to the root."""
    parent = dict(conn.exec_driver_sql("SELECT id, parent_id FROM branches").all())
    chains = {}
    for b in parent:
        chain, cur = [b], parent[b]
        while cur is not None and cur not in chain and len(chain) <= 64:
            chain.append(cur)
            cur = parent.get(cur)
        chains[b] = tuple(chain)
    return chains


def _volunteers(conn: Connection) -> dict[int, list[int]]:
    """Active volunteers with room: id → [branch_id, capacity, load].

    Load = assigned tasks of every run and kind. Measured at 25,000 volunteers and
    530,000 assigned tasks: on SQLite one covering-index seek per volunteer on
    (volunteer_id, status) takes 0.05 s (a GROUP BY 0.5 s: SQLite picks the status index
    and sorts); on PostgreSQL one hashed GROUP BY takes 0.17 s (the correlated count
    0.6 s: fresh rows are not all-visible, so no index-only scan).
    """
    if _is_pg(conn):
        rows = _fetch(conn, f"""
            SELECT v.id, v.branch_id, v.capacity, COALESCE(n.load, 0)
            FROM volunteers v LEFT JOIN (
                SELECT volunteer_id, COUNT(*) AS load FROM outreach_tasks
                WHERE status = '{_ASSIGNED}' AND volunteer_id IS NOT NULL
                GROUP BY volunteer_id) n ON n.volunteer_id = v.id
            WHERE v.active AND v.role IN ({_ROLES}) AND v.capacity > 0""")
    else:
        rows = _fetch(conn, f"""
            SELECT v.id, v.branch_id, v.capacity,
                   (SELECT COUNT(*) FROM outreach_tasks t
                    WHERE t.volunteer_id = v.id AND t.status = '{_ASSIGNED}')
            FROM volunteers v
            WHERE v.active = 1 AND v.role IN ({_ROLES}) AND v.capacity > 0""")
    return {vid: [branch, cap, load] for vid, branch, cap, load in rows if load < cap}


_PARAM = re.compile(r"(?<!:):([a-z_]+)")


def _fetch(conn: Connection, sql: str, params: dict | None = None) -> list[tuple]:
    """All rows of ``sql`` as plain tuples, straight from the driver's cursor (no Row
    objects: a range fetches up to a hundred thousand of them). ``:name`` parameters;
    dates go in as the dialect stores them (ISO text on SQLite)."""
    params = dict(params or {})
    if _is_pg(conn):
        sql = _PARAM.sub(r"%(\1)s", sql)
    else:
        params = {k: v.isoformat() if type(v) is dt.date else v for k, v in params.items()}
    cur = conn.connection.driver_connection.cursor()
    try:
        cur.execute(sql, params)
        return cur.fetchall()
    finally:
        cur.close()


def match(rows: list[tuple[int, int, int | None]], volunteers: dict[int, list[int]],
          chains: dict[int, tuple[int, ...]]) -> list[tuple[int, int | None, int]]:
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

    Pure Python over ints; no database access.
    """
    n = len(rows)
    vid_out: list[int | None] = [None] * n
    why = [0] * n
    anc = {b: frozenset(c) for b, c in chains.items()}
    vget = volunteers.get
    waiting: list[int] = []
    wait = waiting.append
    for i, (_key, branch, last) in enumerate(rows):
        if last is not None:
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
            need = len(idxs)
            slots: list[int] = []  # volunteer ids in slot order (load + k, id)
            level, top = min(s[2] for s in state) + 1, max(s[1] for s in state)
            while len(slots) < need and level <= top:
                slots += [v for v, s in zip(vids, state) if s[2] < level <= s[1]]
                level += 1
            del slots[need:]
            for i, v in zip(idxs, slots):
                vid_out[i] = v
                why[i] = reason
            for v, k in Counter(slots).items():
                volunteers[v][2] += k
            waiting += idxs[len(slots):]
            free[branch] = [v for v, s in zip(vids, state) if s[2] < s[1]]
        waiting.sort()
        free = {b: vids for b, vids in free.items() if vids}
        depth += 1
    return list(zip([r[0] for r in rows], vid_out, why))


def _target_sql(kind: CampaignKind, branches: list[int] | None) -> str:
    """The WHERE clause of the targeting rule for ``kind`` (members aliased ``m``)."""
    rule = {
        CampaignKind.SURVEY: "(m.confirmed_on IS NULL OR m.confirmed_on < :since)",
        CampaignKind.PHONE_VISIT: "m.residence = 'away' AND "
                                  "(m.last_reached_on IS NULL OR m.last_reached_on < :since)",
        CampaignKind.DELIVERY: "m.homebound = :yes AND m.residence = 'local'",
    }[kind]
    where = f"m.id >= :lo AND m.id < :hi AND m.status IN ({_CONTACTABLE}) AND {rule}"
    if branches is not None:
        where += f" AND m.branch_id IN ({', '.join(str(int(b)) for b in sorted(branches))})"
    return where


def _subtree(chains: dict[int, tuple[int, ...]], branch_id: int) -> list[int]:
    """``branch_id`` and every branch nested under it."""
    return [b for b, chain in chains.items() if branch_id in chain]


def _run_and_campaign(conn: Connection, run_id: int):
    """(period, kind, window_days, cadence_days, max_attempts, due_days) of a run."""
    c, r = Campaign, CampaignRun
    row = conn.execute(
        select(r.period, c.kind, c.window_days, c.cadence_days, c.max_attempts, c.due_days)
        .join(c, c.id == r.campaign_id).where(r.id == run_id)).first()
    if row is None:
        raise NotFound(f"no campaign run {run_id}")
    return row


def closes_on(period: str, today: dt.date, due_days: int) -> dt.date:
    """When a task of this run expires: end of the period, at least two due windows away."""
    return max(period_end(period), today + dt.timedelta(days=2 * due_days))


def _counts(picks: list[tuple[int, int | None, int]]) -> dict[int, int]:
    out = {0: 0, _CONTINUITY: 0, _OWN: 0, _PARENT: 0}
    for _k, _v, r in picks:
        out[r] += 1
    return out


def plan_range(engine: Engine, run_id: int, lo: int, hi: int, *, today: dt.date,
               branch_id: int | None = None, within_days: int | None = None,
               due_days: int | None = None, max_attempts: int | None = None) -> dict:
    """Plan and assign the run's tasks for targeted members with ``lo <= id < hi``.

    ``within_days`` overrides the campaign's window (survey) or cadence (phone visits),
    ``due_days`` and ``max_attempts`` its settings for the tasks made now; None keeps the
    campaign's. One transaction of its own; idempotent. Returns counts: ``targeted`` (members the rule
    picks for this run, planned now or before), ``created``, ``assigned``, ``continuity``,
    ``unassigned`` (created but left open), ``busy`` (skipped: an open task of the same
    kind in another run).
    """
    with writer(engine).begin() as conn:
        campaign = _run_and_campaign(conn, run_id)
        kind = CampaignKind(campaign.kind)
        if kind not in PLANNED_KINDS:
            raise BadInput(f"{kind.value} tasks are not planned by a campaign")
        chains = _chains(conn)
        if branch_id is not None and branch_id not in chains:
            raise NotFound(f"no branch {branch_id}")
        # PostgreSQL: serialise planners from here on (SQLite writers already are), so the
        # targets read below are still without a task when the INSERT runs.
        _lock(conn)
        params: dict = {"lo": lo, "hi": hi, "run": run_id, "kind": kind.value}
        if kind is CampaignKind.SURVEY:
            params["since"] = today - dt.timedelta(days=within_days or campaign.window_days)
        elif kind is CampaignKind.PHONE_VISIT:
            params["since"] = today - dt.timedelta(days=within_days or campaign.cadence_days)
        else:
            params["yes"] = True
        due = due_days or campaign.due_days
        attempts = max_attempts or campaign.max_attempts
        if not (0 < due <= 365 and 0 < attempts <= 20):
            raise BadInput("due days must be 1–365 and attempts 1–20")
        branches = None if branch_id is None else _subtree(chains, branch_id)
        # state: 0 to be planned, 1 already has a task in this run, 2 busy in another run.
        found = _fetch(conn, f"""
            SELECT m.id, m.branch_id, m.last_reached_by,
                   COALESCE((SELECT MIN(CASE WHEN t.run_id = :run THEN 1 ELSE 2 END)
                             FROM outreach_tasks t
                             WHERE t.member_id = m.id AND (t.run_id = :run OR
                                   (t.kind = :kind AND t.status IN ('{_OPEN}', '{_ASSIGNED}')))),
                            0)
            FROM members m WHERE {_target_sql(kind, branches)}
            ORDER BY m.id""", params)
        counts = {0: 0, 1: 0, 2: 0}
        todo: list[tuple[int, int, int | None]] = []
        for mid, branch, last, state in found:
            counts[state] += 1
            if state == 0:
                todo.append((mid, branch, last))
        del found
        created, by_reason = 0, _counts([])
        if todo:
            volunteers = _volunteers(conn)
            picks = (match(todo, volunteers, chains) if volunteers
                     else [(k, None, 0) for k, _b, _l in todo])
            del todo
            by_reason = _counts(picks)
            crashpoints.reach("plan.matched")
            _write_picks(conn, picks)
            del picks
            result = conn.execute(text(f"""
                INSERT INTO outreach_tasks (run_id, member_id, kind, status, volunteer_id,
                    status_by, status_reason, attempts, max_attempts, due_on, closes_on,
                    pending_confirmation, version, created_at)
                SELECT :run, p.key, :kind,
                       CASE WHEN p.volunteer_id IS NULL THEN '{_OPEN}' ELSE '{_ASSIGNED}' END,
                       p.volunteer_id, NULL, {_REASON_SQL}, 0,
                       :max_attempts, :due_on, :closes_on, :no, 1, :now
                FROM plan_pick p
                WHERE true
                ORDER BY p.key
                ON CONFLICT (run_id, member_id) DO NOTHING""")
                .bindparams(bindparam("due_on", type_=Date), bindparam("closes_on", type_=Date),
                            bindparam("now", type_=DateTime)),
                {"run": run_id, "kind": kind.value, "max_attempts": attempts,
                 "due_on": today + dt.timedelta(days=due),
                 "closes_on": closes_on(campaign.period, today, due),
                 "no": False, "now": _utcnow()})
            created = result.rowcount
            crashpoints.reach("plan.written")
    crashpoints.reach("plan.committed")
    n_assigned = by_reason[_CONTINUITY] + by_reason[_OWN] + by_reason[_PARENT]
    return {
        "lo": lo, "hi": hi,
        "targeted": counts[0] + counts[1],
        "created": created,
        "assigned": n_assigned,
        "continuity": by_reason[_CONTINUITY],
        "parent": by_reason[_PARENT],
        "unassigned": created - n_assigned,
        "busy": counts[2],
    }


def assign_open(engine: Engine, run_id: int | None = None, *,
                batch_size: int = DEFAULT_BATCH) -> dict:
    """Hand out open planned tasks (of one run, or all) to volunteers who now have room.

    Same rule as planning (`match`: continuity, own branch then up the tree, least loaded
    first); open → assigned by one set-based UPDATE per batch whose history the triggers
    write. One short transaction per batch of task ids; stops as soon as nobody has room.
    Returns counts ``assigned``, ``continuity``, ``parent`` and ``still_open``.
    """
    kinds = ", ".join(f"'{k.value}'" for k in PLANNED_KINDS)
    run_filter = "" if run_id is None else " AND t.run_id = :run"
    params = {} if run_id is None else {"run": run_id}
    with engine.connect() as conn:
        lo, hi = conn.execute(text(
            f"SELECT MIN(t.id), MAX(t.id) FROM outreach_tasks t "
            f"WHERE t.status = '{_OPEN}' AND t.kind IN ({kinds}){run_filter}"), params).one()
    totals = {"assigned": 0, "continuity": 0, "parent": 0}
    if lo is not None:
        for start in range(lo, hi + 1, batch_size):
            with writer(engine).begin() as conn:
                _lock(conn)
                rows = [tuple(r) for r in conn.execute(text(f"""
                    SELECT t.id, m.branch_id, m.last_reached_by
                    FROM outreach_tasks t JOIN members m ON m.id = t.member_id
                    WHERE t.id >= :lo AND t.id < :hi AND t.status = '{_OPEN}'
                      AND t.kind IN ({kinds}){run_filter}
                    ORDER BY t.id"""), {**params, "lo": start, "hi": start + batch_size})]
                if not rows:
                    continue
                volunteers = _volunteers(conn)
                if not volunteers:
                    break
                picks = [p for p in match(rows, volunteers, _chains(conn)) if p[2]]
                if not picks:
                    continue
                _write_picks(conn, picks)
                if _is_pg(conn):
                    conn.exec_driver_sql("ANALYZE plan_pick")
                conn.exec_driver_sql(f"""
                    UPDATE outreach_tasks SET
                        status = '{_ASSIGNED}', volunteer_id = p.volunteer_id,
                        status_by = NULL, status_reason = {_REASON_SQL},
                        version = outreach_tasks.version + 1
                    FROM plan_pick p
                    WHERE outreach_tasks.id = p.key AND outreach_tasks.status = '{_OPEN}'""")
                crashpoints.reach("assign.written")
                by_reason = _counts(picks)
                totals["assigned"] += len(picks)
                totals["continuity"] += by_reason[_CONTINUITY]
                totals["parent"] += by_reason[_PARENT]
    with engine.connect() as conn:
        totals["still_open"] = conn.execute(text(
            f"SELECT COUNT(*) FROM outreach_tasks t "
            f"WHERE t.status = '{_OPEN}' AND t.kind IN ({kinds}){run_filter}"),
            params).scalar_one()
    return totals


# --- reporting and the whole run -----------------------------------------------------------


def summary(session: Session | Connection, run_id: int) -> list[dict]:
    """Per branch of the run's tasks: targeted, assigned (has a volunteer), unassigned (open).

    Ids, branch names and counts only — never a phone number or an address.
    """
    t, m, b = OutreachTask, Member, Branch
    rows = session.execute(
        select(b.id, b.name, func.count(t.id),
               func.count(t.volunteer_id),
               func.sum(case((t.status == _OPEN, 1), else_=0)))
        .select_from(t).join(m, m.id == t.member_id).join(b, b.id == m.branch_id)
        .where(t.run_id == run_id).group_by(b.id, b.name).order_by(b.name)).all()
    return [{"branch_id": bid, "branch": name, "targeted": n, "assigned": a,
             "unassigned": int(o or 0)} for bid, name, n, a, o in rows]


def plan_campaign(engine: Engine, kind: CampaignKind | str, period: str, *, today: dt.date,
                  branch_id: int | None = None, material: str | None = None,
                  batch_size: int = DEFAULT_BATCH, within_days: int | None = None,
                  due_days: int | None = None, max_attempts: int | None = None) -> dict:
    """Open the run and plan every range in turn (the flow does the loop with Prefect tasks).

    Returns the run id and the summed counts of `plan_range`.
    """
    with Session(writer(engine), expire_on_commit=False) as session, session.begin():
        run = open_run(session, kind, period, material=material)
        run_id = run.id
    totals: dict = {"run_id": run_id, "ranges": 0}
    for lo, hi in id_ranges(engine, size=batch_size):
        counts = plan_range(engine, run_id, lo, hi, today=today, branch_id=branch_id,
                            within_days=within_days, due_days=due_days,
                            max_attempts=max_attempts)
        totals["ranges"] += 1
        for key, value in counts.items():
            if key not in ("lo", "hi"):
                totals[key] = totals.get(key, 0) + value
    return totals


def preview(engine: Engine, kind: CampaignKind | str, period: str, *, today: dt.date,
            branch_id: int | None = None, within_days: int | None = None) -> list[dict]:
    """A dry run: per branch, how many members the rule targets now; writes nothing.

    ``targeted`` counts every member the rule picks; ``busy`` those of them who already
    have an open task of the same kind (a run would skip them).
    """
    kind = _kind(kind)
    check_period(period)
    if kind not in PLANNED_KINDS:
        raise BadInput(f"{kind.value} tasks are made by follow-up, not planned by a campaign")
    with engine.connect() as conn:
        camp = conn.execute(select(Campaign.window_days, Campaign.cadence_days)
                            .where(Campaign.name == kind.value)).first()
        window = within_days or (camp.window_days if camp
                                 else Campaign.__table__.c.window_days.default.arg)
        cadence = within_days or (camp.cadence_days if camp
                                  else Campaign.__table__.c.cadence_days.default.arg)
        lo, hi = conn.execute(select(func.min(Member.id), func.max(Member.id))).one()
        if lo is None:
            return []
        params: dict = {"lo": lo, "hi": hi + 1, "kind": kind.value}
        branches = None
        if branch_id is not None:
            chains = _chains(conn)
            if branch_id not in chains:
                raise NotFound(f"no branch {branch_id}")
            branches = _subtree(chains, branch_id)
        where = _target_sql(kind, branches)
        if kind is CampaignKind.SURVEY:
            params["since"] = today - dt.timedelta(days=window)
        elif kind is CampaignKind.PHONE_VISIT:
            params["since"] = today - dt.timedelta(days=cadence)
        else:
            params["yes"] = True
        stmt = text(f"""
            SELECT b.id, b.name, COUNT(*),
                   SUM(CASE WHEN EXISTS (SELECT 1 FROM outreach_tasks t
                        WHERE t.member_id = m.id AND t.kind = :kind
                          AND t.status IN ('{_OPEN}', '{_ASSIGNED}')) THEN 1 ELSE 0 END)
            FROM members m JOIN branches b ON b.id = m.branch_id
            WHERE {where} GROUP BY b.id, b.name ORDER BY b.name""")
        if "since" in params:
            stmt = stmt.bindparams(bindparam("since", type_=Date))
        return [{"branch_id": r[0], "branch": r[1], "targeted": int(r[2]), "busy": int(r[3] or 0)}
                for r in conn.execute(stmt, params)]

