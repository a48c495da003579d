"""Planning a campaign run: who gets a task this period, and which volunteer does it.

Plain functions, no Prefect: the flows wrap them. Everything is set-based SQL over a range
of member ids, so a campaign over a million members is a hundred short transactions, and
no member row ever travels through Python.

Targeting (members in `CONTACTABLE_MEMBER` only: never deceased, moved out or
do-not-contact; optionally only one branch and every branch nested under it):

* survey — not confirmed within the campaign's ``window_days``;
* phone_visit — living away, not reached within ``cadence_days``;
* delivery — homebound and living locally (away members get phone visits instead);
* every kind skips a member who already has an open or assigned task of the same kind
  in another run, and a member who already has a task in this run (idempotent rerun).

Assignment happens at insert time: a task is written directly as ``assigned`` (an initial
transition) when a volunteer has room, else as ``open``; the database's triggers write one
row of history per task either way. For each range, in one transaction:

1. the targeted members go to a temporary table;
2. *continuity*: a member whose ``last_reached_by`` volunteer is active, belongs to the
   member's branch or one of its ancestors and has room goes back to that volunteer;
3. then level by level up the branch tree (own branch, parent, grandparent …) the
   remaining members of each branch are matched to the free *slots* of that branch's
   volunteers. A volunteer with load L and capacity C has slots L+1 … C; slots are
   ranked by (L + k, volunteer id), so matching member rank to slot rank fills the least
   loaded volunteer first (water-filling, what a greedy one-by-one assignment does);
4. one ``INSERT … SELECT`` writes the range's tasks, assigned or open.

Only active volunteers with role ``volunteer`` are assigned (coordinators keep their
capacity for escalations). Load = the volunteer's assigned tasks of every run and kind
(an open task has no volunteer). What finds no room stays ``open`` and is counted; the
flow reports it and `assign_open` hands it out later, when volunteers have room.

A task closes (expires) at the end of its period's month, but never sooner than two due
windows after planning: ``closes_on = max(last day of period, today + 2 × due_days)``.

Concurrency: SQLite writers queue on ``BEGIN IMMEDIATE``; on PostgreSQL the assignment part
of each transaction holds a transaction-scoped advisory lock (`ASSIGN_LOCK`), so two
ranges planned at once never both give a volunteer their last free slot.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

from sqlalchemy import (Connection, Date, DateTime, Engine, bindparam, case, func, select,
                        text)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.errors import BadInput, NotFound
from db.machines import CONTACTABLE_MEMBER, TaskStatus
from db.models import Branch, Campaign, CampaignKind, CampaignRun, Member, OutreachTask, Role
from db.session import writer

#: Members per range (one Prefect task each in the flows). Each range pays a fixed cost
#: (counting every volunteer's load, building the slots), so a million members go in 20
#: ranges of 50,000 rather than 100 of 10,000: measured 2-3x faster here, and 20 Prefect
#: tasks is still "a handful".
DEFAULT_BATCH = 50_000
#: Key of the PostgreSQL advisory lock taken by whoever hands out tasks to volunteers.
ASSIGN_LOCK = 7_204_311
#: Roles that receive planned tasks.
ASSIGNABLE_ROLES = (Role.VOLUNTEER.value,)
PLANNED_KINDS = (CampaignKind.SURVEY, CampaignKind.PHONE_VISIT, CampaignKind.DELIVERY)

REASON_PLANNED = "planned"
REASON_ASSIGNED = "assigned"
REASON_CONTINUITY = "assigned (continuity)"
REASON_PARENT = "assigned (parent branch)"

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
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
    found = session.scalars(select(Campaign).where(Campaign.name == kind.value)).first()
    if found is not None:
        return found
    try:
        with session.begin_nested():
            campaign = Campaign(name=kind.value, kind=kind)
            session.add(campaign)
    except IntegrityError:  # created by someone else just now
        return session.scalars(select(Campaign).where(Campaign.name == kind.value)).one()
    return campaign


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
    run = session.scalars(query).first()
    if run is None:
        try:
            with session.begin_nested():
                run = CampaignRun(campaign_id=campaign.id, period=period, material=material)
                session.add(run)
        except IntegrityError:  # opened by a concurrent rerun of the same period
            run = session.scalars(query).one()
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


# --- the temporary work tables ------------------------------------------------------------

# key: the member id when planning, the task id when assigning open tasks.
# state: 0 to be planned, 1 already has a task in this run, 2 busy in another run.
_TEMP = [
    """CREATE TEMP TABLE IF NOT EXISTS plan_target (
        key BIGINT PRIMARY KEY, member_id BIGINT NOT NULL, branch_id BIGINT NOT NULL,
        last_reached_by BIGINT, state INTEGER NOT NULL){oncommit}""",
    """CREATE TEMP TABLE IF NOT EXISTS plan_chain (
        branch_id BIGINT NOT NULL, ancestor_id BIGINT NOT NULL, depth INTEGER NOT NULL,
        PRIMARY KEY (branch_id, depth)){oncommit}""",
    """CREATE TEMP TABLE IF NOT EXISTS plan_free (
        volunteer_id BIGINT PRIMARY KEY, branch_id BIGINT NOT NULL, capacity INTEGER NOT NULL,
        base_load INTEGER NOT NULL, load INTEGER NOT NULL){oncommit}""",
    """CREATE TEMP TABLE IF NOT EXISTS plan_assign (
        key BIGINT PRIMARY KEY, volunteer_id BIGINT NOT NULL, reason VARCHAR(40) NOT NULL)
        {oncommit}""",
    """CREATE TEMP TABLE IF NOT EXISTS plan_nums (k INTEGER PRIMARY KEY){oncommit}""",
    """CREATE INDEX IF NOT EXISTS plan_assign_volunteer ON plan_assign (volunteer_id)""",
    """CREATE INDEX IF NOT EXISTS plan_free_branch ON plan_free (branch_id)""",
]
_TEMP_TABLES = ("plan_target", "plan_chain", "plan_free", "plan_assign", "plan_nums")


def _is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _temp_tables(conn: Connection) -> None:
    """Create (once per connection) and empty the work tables."""
    pg = _is_pg(conn)
    for ddl in _TEMP:
        conn.exec_driver_sql(ddl.format(oncommit=" ON COMMIT DELETE ROWS" if pg else ""))
    if not pg:  # PostgreSQL empties them at every commit
        for t in _TEMP_TABLES:
            conn.exec_driver_sql(f"DELETE FROM {t}")


def _fill_chain(conn: Connection) -> int:
    """Every branch with each of its ancestors and the distance (0 = itself)."""
    conn.exec_driver_sql("""
        INSERT INTO plan_chain (branch_id, ancestor_id, depth)
        WITH RECURSIVE chain (branch_id, ancestor_id, depth) AS (
            SELECT id, id, 0 FROM branches
            UNION ALL
            SELECT c.branch_id, b.parent_id, c.depth + 1
            FROM chain c JOIN branches b ON b.id = c.ancestor_id
            WHERE b.parent_id IS NOT NULL AND c.depth < 64)
        SELECT branch_id, ancestor_id, depth FROM chain""")
    return conn.exec_driver_sql("SELECT COALESCE(MAX(depth), 0) FROM plan_chain").scalar_one()


def _lock(conn: Connection) -> None:
    if _is_pg(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ASSIGN_LOCK})


def _fill_free(conn: Connection) -> int:
    """Active volunteers with room, their load (assigned tasks, every run); total room."""
    conn.exec_driver_sql(f"""
        INSERT INTO plan_free (volunteer_id, branch_id, capacity, base_load, load)
        SELECT id, branch_id, capacity, n, n FROM (
            SELECT v.id, v.branch_id, v.capacity,
                   (SELECT COUNT(*) FROM outreach_tasks t
                    WHERE t.volunteer_id = v.id AND t.status = '{_ASSIGNED}') AS n
            FROM volunteers v
            WHERE v.active = {_true(conn)} AND v.role IN ({_ROLES}) AND v.capacity > 0) x
        WHERE capacity > n""")
    room = conn.exec_driver_sql(
        "SELECT COALESCE(SUM(capacity - load), 0), COALESCE(MAX(capacity - load), 0) "
        "FROM plan_free").one()
    if room[0]:
        conn.exec_driver_sql("""
            INSERT INTO plan_nums (k)
            WITH RECURSIVE n (k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < {top})
            SELECT k FROM n""".format(top=int(room[1])))
        _analyze(conn, "plan_target", "plan_chain", "plan_free", "plan_nums")
    return int(room[0])


def _analyze(conn: Connection, *tables: str) -> None:
    """PostgreSQL never analyzes temporary tables by itself; without statistics it plans
    the window joins as nested loops over thousands of rows."""
    if _is_pg(conn):
        conn.exec_driver_sql(f"ANALYZE {', '.join(tables)}")


def _true(conn: Connection) -> str:
    return "true" if _is_pg(conn) else "1"


def _refresh_load(conn: Connection) -> None:
    conn.exec_driver_sql("""
        UPDATE plan_free SET load = base_load +
            (SELECT COUNT(*) FROM plan_assign a WHERE a.volunteer_id = plan_free.volunteer_id)""")


def _assign(conn: Connection, max_depth: int, waiting: int, room: int) -> None:
    """Fill plan_assign for the state-0 rows of plan_target: continuity, then each level.

    ``waiting`` rows to place, ``room`` free slots in all; both only shrink, and the work
    stops as soon as either is used up.
    """
    least = "LEAST" if _is_pg(conn) else "MIN"
    # 1. continuity: back to the volunteer who last reached the member.
    done = conn.exec_driver_sql(f"""
        INSERT INTO plan_assign (key, volunteer_id, reason)
        SELECT key, volunteer_id, '{REASON_CONTINUITY}' FROM (
            SELECT t.key, f.volunteer_id, f.capacity - f.load AS free,
                   row_number() OVER (PARTITION BY f.volunteer_id ORDER BY t.key) AS rn
            FROM plan_target t
            JOIN plan_free f ON f.volunteer_id = t.last_reached_by
            WHERE t.state = 0 AND EXISTS (
                SELECT 1 FROM plan_chain c
                WHERE c.branch_id = t.branch_id AND c.ancestor_id = f.branch_id)) x
        WHERE rn <= free""").rowcount
    waiting, room = waiting - done, room - done
    _analyze(conn, "plan_assign")
    # 2. level by level up the tree: least-loaded volunteer of the branch first.
    for depth in range(max_depth + 1):
        reason = REASON_ASSIGNED if depth == 0 else REASON_PARENT
        if waiting <= 0 or room <= 0:
            break
        _refresh_load(conn)
        if not conn.exec_driver_sql(f"""
                SELECT COUNT(*) FROM plan_free f WHERE f.capacity > f.load AND f.branch_id IN
                  (SELECT ancestor_id FROM plan_chain WHERE depth = {depth})""").scalar_one():
            continue  # nobody with room at this level
        while True:
            # Slots of a volunteer: k = 1 .. free, keyed (load + k, id); the first `need`
            # keys of a branch are the least-loaded fill. Only keys up to the branch's
            # top load + ceil(need / volunteers) are made: when that is too few (some
            # volunteers fill up) the loop makes the next ones from the new loads.
            done = conn.exec_driver_sql(f"""
                INSERT INTO plan_assign (key, volunteer_id, reason)
                WITH waiting AS (
                    SELECT t.key, c.ancestor_id AS branch_id,
                           row_number() OVER (PARTITION BY c.ancestor_id ORDER BY t.key) AS rn
                    FROM plan_target t
                    JOIN plan_chain c ON c.branch_id = t.branch_id AND c.depth = {depth}
                    WHERE t.state = 0
                      AND NOT EXISTS (SELECT 1 FROM plan_assign a WHERE a.key = t.key)),
                need AS (
                    SELECT w.branch_id, COUNT(*) AS n, MAX(b.nv) AS nv, MAX(b.top) AS top
                    FROM waiting w
                    JOIN (SELECT branch_id, COUNT(*) AS nv, MAX(load) AS top FROM plan_free
                          WHERE capacity > load GROUP BY branch_id) b
                      ON b.branch_id = w.branch_id
                    GROUP BY w.branch_id),
                slots AS (
                    SELECT f.volunteer_id, f.branch_id,
                           row_number() OVER (PARTITION BY f.branch_id
                                              ORDER BY f.load + s.k, f.volunteer_id) AS rn
                    FROM need
                    JOIN plan_free f ON f.branch_id = need.branch_id
                    CROSS JOIN plan_nums s  -- CROSS: SQLite keeps this order (k bounded per f)
                    WHERE s.k <= {least}(f.capacity - f.load, need.n,
                                         need.top + (need.n + need.nv - 1) / need.nv - f.load))
                SELECT w.key, s.volunteer_id, '{reason}'
                FROM waiting w JOIN slots s ON s.branch_id = w.branch_id AND s.rn = w.rn""").rowcount
            waiting, room = waiting - done, room - done
            if done <= 0 or waiting <= 0 or room <= 0:
                break
            _refresh_load(conn)
            if conn.exec_driver_sql(f"""
                    SELECT 1 FROM plan_target t
                    JOIN plan_chain c ON c.branch_id = t.branch_id AND c.depth = {depth}
                    WHERE t.state = 0
                      AND NOT EXISTS (SELECT 1 FROM plan_assign a WHERE a.key = t.key)
                      AND EXISTS (SELECT 1 FROM plan_free f WHERE f.branch_id = c.ancestor_id
                                  AND f.capacity > f.load)
                    LIMIT 1""").first() is None:
                break  # what still waits has no room left in its branch at this level


def _target_sql(kind: CampaignKind, branch_id: int | None) -> str:
    """The WHERE clause of the targeting rule for ``kind`` (members aliased ``m``)."""
    rule = {
        CampaignKind.SURVEY: "(m.confirmed_on IS NULL OR m.confirmed_on < :since)",
        CampaignKind.PHONE_VISIT: "m.residence = 'away' AND "
                                  "(m.last_reached_on IS NULL OR m.last_reached_on < :since)",
        CampaignKind.DELIVERY: "m.homebound = :yes AND m.residence = 'local'",
    }[kind]
    where = f"m.id >= :lo AND m.id < :hi AND m.status IN ({_CONTACTABLE}) AND {rule}"
    if branch_id is not None:
        where += " AND m.branch_id IN (SELECT branch_id FROM plan_chain WHERE ancestor_id = :branch)"
    return where


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


def plan_range(engine: Engine, run_id: int, lo: int, hi: int, *, today: dt.date,
               branch_id: int | None = None) -> dict:
    """Plan and assign the run's tasks for targeted members with ``lo <= id < hi``.

    One transaction of its own; idempotent. Returns counts: ``targeted`` (members the rule
    picks for this run, planned now or before), ``created``, ``assigned``, ``continuity``,
    ``unassigned`` (created but left open), ``busy`` (skipped: an open task of the same
    kind in another run).
    """
    with writer(engine).begin() as conn:
        campaign = _run_and_campaign(conn, run_id)
        kind = CampaignKind(campaign.kind)
        if kind not in PLANNED_KINDS:
            raise BadInput(f"{kind.value} tasks are not planned by a campaign")
        if branch_id is not None and conn.execute(
                select(Branch.id).where(Branch.id == branch_id)).first() is None:
            raise NotFound(f"no branch {branch_id}")
        _temp_tables(conn)
        max_depth = _fill_chain(conn)
        params: dict = {"lo": lo, "hi": hi, "run": run_id, "kind": kind.value}
        if branch_id is not None:
            params["branch"] = branch_id
        if kind is CampaignKind.SURVEY:
            params["since"] = today - dt.timedelta(days=campaign.window_days)
        elif kind is CampaignKind.PHONE_VISIT:
            params["since"] = today - dt.timedelta(days=campaign.cadence_days)
        else:
            params["yes"] = True
        fill = text(f"""
            INSERT INTO plan_target (key, member_id, branch_id, last_reached_by, state)
            SELECT m.id, m.id, m.branch_id, m.last_reached_by,
                   COALESCE((SELECT MIN(CASE WHEN t.run_id = :run THEN 1 ELSE 2 END)
                             FROM outreach_tasks t
                             WHERE t.member_id = m.id AND (t.run_id = :run OR
                                   (t.kind = :kind AND t.status IN ('{_OPEN}', '{_ASSIGNED}')))),
                            0)
            FROM members m WHERE {_target_sql(kind, branch_id)}""")
        if "since" in params:
            fill = fill.bindparams(bindparam("since", type_=Date))
        conn.execute(fill, params)
        counts = dict(conn.exec_driver_sql(
            "SELECT state, COUNT(*) FROM plan_target GROUP BY state").all())
        todo = counts.get(0, 0)
        if todo:
            _lock(conn)
            room = _fill_free(conn)
            if room:
                _assign(conn, max_depth, todo, room)
            result = conn.execute(text(f"""
                INSERT INTO outreach_tasks (run_id, member_id, kind, status, volunteer_id,
                    status_by, status_reason, attempts, max_attempts, due_on, closes_on,
                    pending_confirmation, version, created_at)
                SELECT :run, t.member_id, :kind,
                       CASE WHEN a.volunteer_id IS NULL THEN '{_OPEN}' ELSE '{_ASSIGNED}' END,
                       a.volunteer_id, NULL, COALESCE(a.reason, '{REASON_PLANNED}'), 0,
                       :max_attempts, :due_on, :closes_on, :no, 1, :now
                FROM plan_target t LEFT JOIN plan_assign a ON a.key = t.key
                WHERE t.state = 0
                ORDER BY t.member_id
                ON CONFLICT (run_id, member_id) DO NOTHING""")
                .bindparams(bindparam("due_on", type_=Date), bindparam("closes_on", type_=Date),
                            bindparam("now", type_=DateTime)),
                {"run": run_id, "kind": kind.value, "max_attempts": campaign.max_attempts,
                 "due_on": today + dt.timedelta(days=campaign.due_days),
                 "closes_on": closes_on(campaign.period, today, campaign.due_days),
                 "no": False, "now": _utcnow()})
            created = result.rowcount
            assigned = dict(conn.exec_driver_sql(
                "SELECT reason, COUNT(*) FROM plan_assign GROUP BY reason").all())
        else:
            created, assigned = 0, {}
    n_assigned = sum(assigned.values())
    return {
        "lo": lo, "hi": hi,
        "targeted": counts.get(0, 0) + counts.get(1, 0),
        "created": created,
        "assigned": n_assigned,
        "continuity": assigned.get(REASON_CONTINUITY, 0),
        "parent": assigned.get(REASON_PARENT, 0),
        "unassigned": created - n_assigned,
        "busy": counts.get(2, 0),
    }


def assign_open(engine: Engine, run_id: int | None = None, *,
                batch_size: int = DEFAULT_BATCH) -> dict:
    """Hand out open planned tasks (of one run, or all) to volunteers who now have room.

    Same rule as planning (continuity, own branch then up the tree, least loaded first);
    open → assigned by set-based UPDATEs whose history the triggers write. One short
    transaction per batch of task ids; stops as soon as nobody has room. Returns counts
    ``assigned``, ``continuity``, ``parent`` and ``still_open``.
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
                _temp_tables(conn)
                max_depth = _fill_chain(conn)
                conn.execute(text(f"""
                    INSERT INTO plan_target (key, member_id, branch_id, last_reached_by, state)
                    SELECT t.id, m.id, m.branch_id, m.last_reached_by, 0
                    FROM outreach_tasks t JOIN members m ON m.id = t.member_id
                    WHERE t.id >= :lo AND t.id < :hi AND t.status = '{_OPEN}'
                      AND t.kind IN ({kinds}){run_filter}"""),
                    {**params, "lo": start, "hi": start + batch_size})
                waiting = conn.exec_driver_sql("SELECT COUNT(*) FROM plan_target").scalar_one()
                if not waiting:
                    continue
                _lock(conn)
                room = _fill_free(conn)
                if not room:
                    break
                _assign(conn, max_depth, waiting, room)
                conn.exec_driver_sql(f"""
                    UPDATE outreach_tasks SET
                        status = '{_ASSIGNED}',
                        volunteer_id = (SELECT a.volunteer_id FROM plan_assign a
                                        WHERE a.key = outreach_tasks.id),
                        status_by = NULL,
                        status_reason = (SELECT a.reason FROM plan_assign a
                                         WHERE a.key = outreach_tasks.id),
                        version = version + 1
                    WHERE id IN (SELECT key FROM plan_assign) AND status = '{_OPEN}'""")
                for reason, n in conn.exec_driver_sql(
                        "SELECT reason, COUNT(*) FROM plan_assign GROUP BY reason").all():
                    totals["assigned"] += n
                    if reason == REASON_CONTINUITY:
                        totals["continuity"] += n
                    elif reason == REASON_PARENT:
                        totals["parent"] += n
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
                  batch_size: int = DEFAULT_BATCH) -> dict:
    """Open the run and plan every range in turn (the flow does the loop with Prefect tasks).

    Returns the run id and the summed counts of `plan_range`.
    """
    with Session(writer(engine), expire_on_commit=False) as session, session.begin():
        run = open_run(session, kind, period, material=material)
        run_id = run.id
    totals: dict = {"run_id": run_id, "ranges": 0}
    for lo, hi in id_ranges(engine, size=batch_size):
        counts = plan_range(engine, run_id, lo, hi, today=today, branch_id=branch_id)
        totals["ranges"] += 1
        for key, value in counts.items():
            if key not in ("lo", "hi"):
                totals[key] = totals.get(key, 0) + value
    return totals


def preview(engine: Engine, kind: CampaignKind | str, period: str, *, today: dt.date,
            branch_id: int | None = None) -> list[dict]:
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
        window = camp.window_days if camp else Campaign.__table__.c.window_days.default.arg
        cadence = camp.cadence_days if camp else Campaign.__table__.c.cadence_days.default.arg
        lo, hi = conn.execute(select(func.min(Member.id), func.max(Member.id))).one()
        if lo is None:
            return []
        params: dict = {"lo": lo, "hi": hi + 1, "kind": kind.value}
        where = _target_sql(kind, None)
        if branch_id is not None:
            rows = conn.execute(select(Branch.id, Branch.parent_id)).all()
            if branch_id not in {r[0] for r in rows}:
                raise NotFound(f"no branch {branch_id}")
            keep, todo = set(), [branch_id]
            while todo:
                b = todo.pop()
                keep.add(b)
                todo += [r[0] for r in rows if r[1] == b and r[0] not in keep]
            where += f" AND m.branch_id IN ({', '.join(str(int(b)) for b in sorted(keep))})"
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
