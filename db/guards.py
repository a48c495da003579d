"""Database-side guards of the state machines, for SQLite and PostgreSQL.

The migrations install a frozen copy of this text (literals in the revision, never an
import of this module); `tests/db/test_migrate.py` checks that the head revision's
triggers and rows equal what this module produces, so a change here needs a new migration.
What they do:

* the ``*_transition`` tables (member, task, meeting, attendance, care) hold the allowed pairs
  of `db.machines` (``new`` → initial state included);
* an INSERT with a status that is not an initial state, or an UPDATE moving a status along
  a pair not in the table, is refused with ``illegal … transition``;
* every INSERT and every status change (for tasks also every change of assignee, for
  meetings every change of planned date) writes its history row, taking who and why from
  the row's ``status_by`` / ``status_reason``;
* history tables (and ``movements``) are append-only: UPDATE and DELETE are refused.

The guards were installed in parts (`PARTS`): member and task by revision 0001, meeting and
attendance by 0004, care occasions and the append-only movements by 0006. `statements` /
`drop_statements` give all of them as the head revision holds them, or one part's as its
revision installed it (frozen: `tests/db/test_migrate.py` compares them byte for byte).

SQLite gets row triggers (it has no others). Up to 0006 five a table: a BEFORE INSERT check
of the initial status, a BEFORE INSERT check that the id has no history yet (``INSERT OR
REPLACE``), the AFTER INSERT history row, a BEFORE UPDATE check of the pair and the AFTER
UPDATE history row. Revision 0007 (`SQLITE_ROWS_SINCE`) folds them into two, one AFTER
INSERT and one AFTER UPDATE trigger doing the same checks (same messages) before writing the
history row: a row trigger's call costs about half of what the history row it writes does
(measured: ~1 µs against ~2 µs), so a bulk INSERT … SELECT of tasks or attendance pays one
call a row instead of three. (The other half of SQLite's cost was the enum CHECKs, rebuilt
for every row: 0007 rewrites them, see there.)

Revision 0009 adds triggers that are not a machine's: the contact summary
(`summary_statements`), each member's two newest quarters with a successful contact and
with a completed delivery, kept on ``members`` from the attempts for the scorecard.

PostgreSQL gets statement triggers with transition tables, so a bulk INSERT … SELECT of a
million tasks writes its history in one set-based statement; 0007 leaves them as they are.
Revision 0010 (`PLANNED_SINCE`) makes the update functions run their queries through
EXECUTE, planned for each statement's rows: a plan kept from a one-row UPDATE was quadratic
on a later bulk one.
(No ``LIMIT 1`` in the guards' SELECT … INTO: it keeps the first row anyway, and with it
PostgreSQL joins the two transition tables by nested loop — quadratic in the rows updated.)
"""

from __future__ import annotations

from typing import Callable

from outreach.db.machines import MEMBER_COORDINATOR_ONLY, pairs

ILLEGAL_MARK = "illegal"
APPEND_ONLY_MARK = "append-only"

# (table, transition table, history table, id column in history, extra history columns)
_MACHINES = {
    "member": ("members", "member_transition", "member_status_changes", "member_id", ()),
    "task": ("outreach_tasks", "task_transition", "task_status_changes", "task_id",
             ("volunteer_id",)),
    "meeting": ("meetings", "meeting_transition", "meeting_status_changes", "meeting_id",
                ("planned_on",)),
    "attendance": ("attendance", "attendance_transition", "attendance_status_changes",
                   "attendance_id", ()),
    "care": ("care_occasions", "care_transition", "care_occasion_status_changes",
             "care_occasion_id", ()),
}

#: The guards by the revision that installed them: (machines, append-only history tables).
#: The first part also creates PostgreSQL's ``outreach_append_only()`` the others use.
PARTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "0001": (("member", "task"),
             ("member_status_changes", "task_status_changes", "member_changes")),
    "0004": (("meeting", "attendance"),
             ("meeting_status_changes", "attendance_status_changes")),
    # movements are not a machine's history but append-only all the same
    "0006": (("care",), ("care_occasion_status_changes", "movements")),
    # the access log (who was shown whose contact details): append-only, no machine
    "0012": ((), ("access_events", "access_event_members")),
}
_FIRST = next(iter(PARTS))
#: The revision that replaced SQLite's five row triggers a machine by two (`_sqlite`); the
#: parts above keep their own revision's text (`_sqlite_0001`).
SQLITE_ROWS_SINCE = "0007"


def transition_rows(machine: str) -> list[dict]:
    rows = []
    for a, b in pairs(machine):
        row = {"from_status": a, "to_status": b}
        if machine == "member":
            row["coordinator_only"] = (a, b) in MEMBER_COORDINATOR_ONLY
        rows.append(row)
    return rows


def _sqlite_0001(machine: str) -> list[str]:
    """SQLite's row triggers of a machine as 0001, 0004 and 0006 installed them (five)."""
    table, trans, hist, idcol, extra = _MACHINES[machine]
    cols = ", ".join((idcol, "from_status", "to_status", *extra, "actor_id", "reason", "at"))
    ext_new = "".join(f", NEW.{c}" for c in extra)
    changed = "NEW.status IS NOT OLD.status"
    if extra:
        changed += "".join(f" OR NEW.{c} IS NOT OLD.{c}" for c in extra)
    return [
        f"""CREATE TRIGGER {table}_guard_insert BEFORE INSERT ON {table}
        WHEN NOT EXISTS (SELECT 1 FROM {trans} WHERE from_status = 'new' AND to_status = NEW.status)
        BEGIN SELECT RAISE(ABORT, '{ILLEGAL_MARK} {machine} transition: not an initial status'); END""",
        # INSERT OR REPLACE deletes the old row without delete triggers and re-inserts the
        # same id, so the history FK still holds: refuse re-inserting an id with history.
        f"""CREATE TRIGGER {table}_guard_reinsert BEFORE INSERT ON {table}
        WHEN EXISTS (SELECT 1 FROM {hist} WHERE {idcol} = NEW.id)
        BEGIN SELECT RAISE(ABORT, '{ILLEGAL_MARK} {machine} transition: this id already has history'); END""",
        f"""CREATE TRIGGER {table}_history_insert AFTER INSERT ON {table}
        BEGIN INSERT INTO {hist} ({cols})
        VALUES (NEW.id, 'new', NEW.status{ext_new}, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP); END""",
        f"""CREATE TRIGGER {table}_guard_update BEFORE UPDATE OF status ON {table}
        WHEN NEW.status IS NOT OLD.status AND NOT EXISTS
          (SELECT 1 FROM {trans} WHERE from_status = OLD.status AND to_status = NEW.status)
        BEGIN SELECT RAISE(ABORT, '{ILLEGAL_MARK} {machine} transition'); END""",
        f"""CREATE TRIGGER {table}_history_update AFTER UPDATE ON {table}
        WHEN {changed}
        BEGIN INSERT INTO {hist} ({cols})
        VALUES (NEW.id, OLD.status, NEW.status{ext_new}, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP); END""",
    ]


def _sqlite(machine: str) -> list[str]:
    """SQLite's row triggers of a machine since 0007: one AFTER INSERT, one AFTER UPDATE.

    The INSERT trigger refuses a status that is not initial and an id that already has
    history (``INSERT OR REPLACE`` deletes the old row without delete triggers and brings
    the same id back), then writes the ``new → status`` row; the UPDATE trigger refuses a
    status change along no pair, then writes the history row when the status (or a tracked
    column) changed. A RAISE in an AFTER trigger undoes the whole statement, as before.
    """
    table, trans, hist, idcol, extra = _MACHINES[machine]
    cols = ", ".join((idcol, "from_status", "to_status", *extra, "actor_id", "reason", "at"))
    ext_new = "".join(f", NEW.{c}" for c in extra)
    changed = "NEW.status IS NOT OLD.status"
    if extra:
        changed += "".join(f" OR NEW.{c} IS NOT OLD.{c}" for c in extra)
    return [
        f"""CREATE TRIGGER {table}_insert AFTER INSERT ON {table}
        BEGIN
          SELECT RAISE(ABORT, '{ILLEGAL_MARK} {machine} transition: not an initial status')
            WHERE NOT EXISTS (SELECT 1 FROM {trans} WHERE from_status = 'new' AND to_status = NEW.status);
          SELECT RAISE(ABORT, '{ILLEGAL_MARK} {machine} transition: this id already has history')
            WHERE EXISTS (SELECT 1 FROM {hist} WHERE {idcol} = NEW.id);
          INSERT INTO {hist} ({cols})
            VALUES (NEW.id, 'new', NEW.status{ext_new}, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP);
        END""",
        f"""CREATE TRIGGER {table}_update AFTER UPDATE ON {table}
        WHEN {changed}
        BEGIN
          SELECT RAISE(ABORT, '{ILLEGAL_MARK} {machine} transition')
            WHERE NEW.status IS NOT OLD.status AND NOT EXISTS
              (SELECT 1 FROM {trans} WHERE from_status = OLD.status AND to_status = NEW.status);
          INSERT INTO {hist} ({cols})
            VALUES (NEW.id, OLD.status, NEW.status{ext_new}, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP);
        END""",
    ]


def _postgres(machine: str, planned: bool = False) -> list[str]:
    """A machine's two statement triggers and their functions. ``planned`` (the head,
    since `PLANNED_SINCE`): the update function runs its two queries through EXECUTE."""
    table, trans, hist, idcol, extra = _MACHINES[machine]
    cols = ", ".join((idcol, "from_status", "to_status", *extra, "actor_id", "reason", "at"))
    ext_n = "".join(f", n.{c}" for c in extra)
    changed = "n.status IS DISTINCT FROM o.status"
    if extra:
        changed += "".join(f" OR n.{c} IS DISTINCT FROM o.{c}" for c in extra)
    now = "(now() AT TIME ZONE 'utc')"
    # the update function's two queries: a pair not in the table, and the history rows
    pairs = f"""FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE n.status IS DISTINCT FROM o.status AND NOT EXISTS
              (SELECT 1 FROM {trans} x WHERE x.from_status = o.status AND x.to_status = n.status)"""
    history = f"""INSERT INTO {hist} ({cols})
            SELECT n.id, o.status, n.status{ext_n}, n.status_by, n.status_reason, {now}
            FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE {changed}"""
    if planned:  # EXECUTE leaves FOUND alone; ``t`` (a NOT NULL status) says a row came
        check = f"EXECUTE $q$SELECT o.status, n.status {pairs}$q$\n            INTO f, t;"
        found, history = "t IS NOT NULL", f"EXECUTE $q${history}$q$"
    else:
        check, found = f"SELECT o.status, n.status INTO f, t {pairs};", "FOUND"
    return [
        f"""CREATE FUNCTION {table}_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE bad text;
        BEGIN
          SELECT n.status INTO bad FROM new_rows n WHERE NOT EXISTS
            (SELECT 1 FROM {trans} x WHERE x.from_status = 'new' AND x.to_status = n.status);
          IF FOUND THEN
            RAISE EXCEPTION '{ILLEGAL_MARK} {machine} transition: % is not an initial status', bad
              USING ERRCODE = 'check_violation';
          END IF;
          INSERT INTO {hist} ({cols})
            SELECT n.id, 'new', n.status{ext_n}, n.status_by, n.status_reason, {now} FROM new_rows n;
          RETURN NULL;
        END $$""",
        f"""CREATE TRIGGER {table}_after_insert AFTER INSERT ON {table}
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {table}_after_insert()""",
        f"""CREATE FUNCTION {table}_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE f text; t text;
        BEGIN
          {check}
          IF {found} THEN
            RAISE EXCEPTION '{ILLEGAL_MARK} {machine} transition: % -> %', f, t
              USING ERRCODE = 'check_violation';
          END IF;
          {history};
          RETURN NULL;
        END $$""",
        f"""CREATE TRIGGER {table}_after_update AFTER UPDATE ON {table}
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION {table}_after_update()""",
    ]


def _append_only(dialect: str, history: tuple[str, ...], function: bool) -> list[str]:
    out = []
    if dialect == "sqlite":
        for h in history:
            for op in ("UPDATE", "DELETE"):
                out.append(
                    f"CREATE TRIGGER {h}_no_{op.lower()} BEFORE {op} ON {h} "
                    f"BEGIN SELECT RAISE(ABORT, '{h} is {APPEND_ONLY_MARK}'); END")
    else:
        if function:
            out.append(f"""CREATE FUNCTION outreach_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '% is {APPEND_ONLY_MARK}', TG_TABLE_NAME
          USING ERRCODE = 'check_violation'; END $$""")
        for h in history:
            out.append(f"CREATE TRIGGER {h}_append_only BEFORE UPDATE OR DELETE ON {h} "
                       "FOR EACH ROW EXECUTE FUNCTION outreach_append_only()")
            # Row triggers do not see TRUNCATE; a statement trigger does.
            out.append(f"CREATE TRIGGER {h}_no_truncate BEFORE TRUNCATE ON {h} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION outreach_append_only()")
    return out


def _sqlite_drops(tables: list[str], head: bool) -> list[str]:
    names = ("insert", "update") if head else (
        "guard_insert", "guard_reinsert", "history_insert", "guard_update", "history_update")
    return [f"DROP TRIGGER IF EXISTS {table}_{t}" for table in tables for t in names]


def _part_statements(dialect: str, part: str, head: bool) -> list[str]:
    """One part's DDL: as the head revision holds it (``head``) or as its revision
    installed it."""
    if dialect == "sqlite":
        build: Callable[[str], list[str]] = _sqlite if head else _sqlite_0001
    else:
        def build(machine: str) -> list[str]:
            return _postgres(machine, planned=head)
    machines, history = PARTS[part]
    out = [stmt for m in machines for stmt in build(m)]
    return out + _append_only(dialect, history, function=part == _FIRST)


def _part_drops(dialect: str, part: str, head: bool) -> list[str]:
    machines, history = PARTS[part]
    tables = [_MACHINES[m][0] for m in machines]
    out = []
    if dialect == "sqlite":
        out += _sqlite_drops(tables, head)
        for h in history:
            out += [f"DROP TRIGGER IF EXISTS {h}_no_update", f"DROP TRIGGER IF EXISTS {h}_no_delete"]
    else:
        for table in tables:
            for t in ("after_insert", "after_update"):
                out.append(f"DROP TRIGGER IF EXISTS {table}_{t} ON {table}")
                out.append(f"DROP FUNCTION IF EXISTS {table}_{t}()")
        for h in history:
            out.append(f"DROP TRIGGER IF EXISTS {h}_append_only ON {h}")
            out.append(f"DROP TRIGGER IF EXISTS {h}_no_truncate ON {h}")
        if part == _FIRST:
            out.append("DROP FUNCTION IF EXISTS outreach_append_only()")
    return out


# --- the contact summary (0009) -----------------------------------------------------------------

#: The revision that added the contact summary (`summary_statements`).
SUMMARY_SINCE = "0009"
#: What the summary counts, as the database holds it — the scorecard's rules
#: (``tasks.kernel.rules``: `SUCCESSFUL_CONTACT` on a task of `MEMBER_KINDS`; a delivery task
#: delivered to the member or the family). `db/` imports nothing of ours, so they are
#: written out here; `tests/db/test_summary.py` holds them equal to the rules.
CONTACT_KINDS = ("care_visit", "delivery", "make_up", "notice", "phone_visit", "survey")
CONTACT_OUTCOMES = ("delivered", "delivered_to_family", "gift_delivered", "help_arranged",
                    "reached", "visited")
DELIVERY_KIND = "delivery"
DELIVERY_OUTCOMES = ("delivered", "delivered_to_family")
#: (column of the newest quarter, column of the one before, kinds, outcomes)
SUMMARIES = (("contact_quarter", "contact_quarter_before", CONTACT_KINDS, CONTACT_OUTCOMES),
             ("delivery_quarter", "delivery_quarter_before", (DELIVERY_KIND,),
              DELIVERY_OUTCOMES))


def _any(col: str, values) -> str:
    """``col = 'a' OR col = 'b' …`` in brackets: SQLite builds an ephemeral index of an IN
    list for every row a trigger runs for (see revision 0007)."""
    return "(" + " OR ".join(f"{col} = '{v}'" for v in values) + ")"


def quarter_key(dialect: str, day: str) -> str:
    """SQL for the quarter of the date ``day`` as one integer: year × 4 + quarter − 1
    (2026-Q4 → 8107), so that the quarters are ordered and the next one is one more."""
    if dialect == "sqlite":
        return (f"(CAST(substr({day}, 1, 4) AS INTEGER) * 4 "
                f"+ (CAST(substr({day}, 6, 2) AS INTEGER) - 1) / 3)")
    return (f"(CAST(extract(year FROM {day}) AS integer) * 4 "
            f"+ (CAST(extract(month FROM {day}) AS integer) - 1) / 3)")


def _sqlite_recount(task: str) -> str:
    """SQLite: the summary of the member of task ``task`` worked out again from all their
    attempts (after an attempt was changed or deleted: rare)."""
    key = quarter_key("sqlite", "a.recorded_on")
    sets = []
    for top, before, kinds, outcomes in SUMMARIES:
        rows = ("FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id "
                f"WHERE t.member_id = members.id AND {_any('t.kind', kinds)} "
                f"AND {_any('a.outcome', outcomes)}")
        sets.append(f"{top} = (SELECT max({key}) {rows})")
        sets.append(f"{before} = (SELECT max({key}) {rows} AND {key} < "
                    f"(SELECT max({key}) {rows}))")
    return (f"UPDATE members SET {', '.join(sets)} "
            f"WHERE id = (SELECT member_id FROM outreach_tasks WHERE id = {task});")


def _bumps(dialect: str) -> list[str]:
    """The UPDATEs an inserted attempt (``NEW``) makes: each summary it counts for moves
    along — a newer quarter becomes the newest and the newest the one before; an older one
    than the newest may become the one before — with no read of the other attempts."""
    k = quarter_key(dialect, "NEW.recorded_on")
    out = []
    for top, before, kinds, outcomes in SUMMARIES:
        out.append(
            f"""UPDATE members SET
            {before} = CASE WHEN {top} IS NULL THEN NULL WHEN {k} > {top} THEN {top}
              WHEN {k} = {top} OR {before} >= {k} THEN {before} ELSE {k} END,
            {top} = CASE WHEN {top} IS NULL OR {k} > {top} THEN {k} ELSE {top} END
            WHERE {_any('NEW.outcome', outcomes)} AND id = (SELECT member_id FROM outreach_tasks
              WHERE id = NEW.task_id AND {_any('kind', kinds)});""")
    return out


def _sqlite_summary() -> list[str]:
    """SQLite's three row triggers on ``attempts``: an insert moves the member's two
    newest quarters along (`_bumps`); an update of the task, outcome or day, or a delete,
    works them out again."""
    any_outcome = _any("NEW.outcome", sorted({o for s in SUMMARIES for o in s[3]}))
    return [
        f"""CREATE TRIGGER attempts_summary_insert AFTER INSERT ON attempts
        WHEN {any_outcome}
        BEGIN
          {(chr(10) + '          ').join(_bumps('sqlite'))}
        END""",
        f"""CREATE TRIGGER attempts_summary_update AFTER UPDATE OF task_id, outcome, recorded_on ON attempts
        BEGIN
          {_sqlite_recount('OLD.task_id')}
          {_sqlite_recount('NEW.task_id')}
        END""",
        f"""CREATE TRIGGER attempts_summary_delete AFTER DELETE ON attempts
        BEGIN
          {_sqlite_recount('OLD.task_id')}
        END""",
    ]


def _postgres_recount(tasks: str) -> str:
    """PostgreSQL: the summary of the members of the tasks ``tasks`` (a list of task ids)
    worked out again from all their attempts, writing only a row that changes: the
    members' tasks, their qualifying attempts outer-joined (a member left with none gets
    NULLs), the distinct quarters ranked per member and kind of summary, one row a
    member."""
    key = quarter_key("postgresql", "a.recorded_on")
    n = range(len(SUMMARIES))
    flags = ", ".join(f"({_any('t.kind', kinds)} AND {_any('a.outcome', outcomes)}) AS f{i}"
                      for i, (_t, _b, kinds, outcomes) in enumerate(SUMMARIES))
    either = " OR ".join(f"({_any('t.kind', s[2])} AND {_any('a.outcome', s[3])})"
                         for s in SUMMARIES)
    ranks = ", ".join(f"dense_rank() OVER (PARTITION BY member_id, f{i} ORDER BY q DESC "
                      f"NULLS LAST) AS r{i}" for i in n)
    aggs = ", ".join(f"max(q) FILTER (WHERE f{i} AND r{i} = 1) AS top{i}, "
                     f"max(q) FILTER (WHERE f{i} AND r{i} = 2) AS before{i}" for i in n)
    sets = ", ".join(f"{top} = s.top{i}, {before} = s.before{i}"
                     for i, (top, before, _k, _o) in enumerate(SUMMARIES))
    changed = " OR ".join(f"m.{top} IS DISTINCT FROM s.top{i} OR m.{before} IS DISTINCT FROM "
                          f"s.before{i}" for i, (top, before, _k, _o) in enumerate(SUMMARIES))
    return f"""UPDATE members m SET {sets}
          FROM (SELECT member_id, {aggs}
                FROM (SELECT g.*, {ranks}
                      FROM (SELECT t.member_id, {key} AS q, {flags}
                            FROM outreach_tasks t LEFT JOIN attempts a
                              ON a.task_id = t.id AND ({either})
                            WHERE t.member_id IN (SELECT x.member_id FROM outreach_tasks x
                              WHERE x.id IN ({tasks}))) g) r
                GROUP BY member_id) s
          WHERE m.id = s.member_id AND ({changed});"""


def _postgres_summary() -> list[str]:
    """PostgreSQL's row triggers on ``attempts``, as SQLite's: an insert moves the
    member's two newest quarters along (`_bumps`), an update of the task, outcome or day,
    or a delete, works them out again.

    Row triggers, not statement triggers with transition tables as the guards have: a
    statement trigger here makes one UPDATE of many members, whose own statement trigger
    (``members_after_update``) joins its transition tables with the plan PL/pgSQL kept
    from its first run in the session — after single attempts, a nested loop: a bulk
    insert of 5,000 attempts spent 16 s there, of 100,000 more than 10 minutes. One member
    a row keeps every UPDATE of members one row."""
    any_outcome = _any("NEW.outcome", sorted({o for s in SUMMARIES for o in s[3]}))
    body = "\n          ".join(_bumps("postgresql"))
    return [
        f"""CREATE FUNCTION attempts_summary_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF {any_outcome} THEN
          {body}
          END IF;
          RETURN NULL;
        END $$""",
        """CREATE TRIGGER attempts_summary_after_insert AFTER INSERT ON attempts
        FOR EACH ROW EXECUTE FUNCTION attempts_summary_after_insert()""",
        # (on a DELETE, NEW is NULL: only the old task's member is recounted)
        f"""CREATE FUNCTION attempts_summary_after_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          {_postgres_recount('OLD.task_id, NEW.task_id')}
          RETURN NULL;
        END $$""",
        """CREATE TRIGGER attempts_summary_after_change AFTER UPDATE OF task_id, outcome, recorded_on OR DELETE ON attempts
        FOR EACH ROW EXECUTE FUNCTION attempts_summary_after_change()""",
    ]


def summary_statements(dialect: str) -> list[str]:
    """The DDL of the contact summary (revision 0009): triggers on ``attempts`` that keep,
    on each member, the two newest quarters with a successful contact
    (``contact_quarter``, ``contact_quarter_before``) and with a completed delivery
    (``delivery_quarter``, ``delivery_quarter_before``) — what the scorecard reads instead
    of looking up every member's tasks and attempts (`tasks.scorecard.scorecard._summary_bits`).

    Two quarters, not one: the scorecard scores a quarter and the one before it, and
    with the newest two known it is exact for both without reading a single attempt
    (a quarter between or above them has none; only one older than the second needs a
    look). The summary is derived, not history: every insert, change and delete of an
    attempt keeps it (what a task's member and kind are never changes after it is made).
    """
    return _sqlite_summary() if dialect == "sqlite" else _postgres_summary()


def summary_drops(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS attempts_summary_{e}"
                for e in ("insert", "update", "delete")]
    return [stmt for e in ("insert", "change")
            for stmt in (f"DROP TRIGGER IF EXISTS attempts_summary_after_{e} ON attempts",
                         f"DROP FUNCTION IF EXISTS attempts_summary_after_{e}()")]


def _machine_tables() -> list[str]:
    return [_MACHINES[m][0] for p in PARTS.values() for m in p[0]]


# --- update guards planned for their own statement (0010) -----------------------------------

#: The revision from which PostgreSQL's update guards run their queries through EXECUTE.
#: PL/pgSQL keeps a query's plan for the session from its first run, and a query on
#: transition tables has no parameters, so it is never planned again: a first UPDATE of
#: one row planned the join of ``old_rows`` and ``new_rows`` as a nested loop, and a later
#: UPDATE of 15,000 members on the same connection took 143 s instead of about 1 s
#: (quadratic). A pooled connection of the ledger service or of a flow run does exactly
#: that. EXECUTE plans each statement for its own rows (a single-row status change pays
#: about 0.2 ms more).
PLANNED_SINCE = "0010"


def planned_statements(dialect: str, planned: bool = True) -> list[str]:
    """What `PLANNED_SINCE` installs: every machine's update function, CREATE OR
    REPLACE'd (PostgreSQL; nothing on SQLite) — or, not ``planned``, what it replaced (its
    downgrade puts those back)."""
    if dialect == "sqlite":
        return []
    # [2]: the update function
    return [_postgres(m, planned)[2].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
            for p in PARTS.values() for m in p[0]]


def statements(dialect: str, part: str | None = None) -> list[str]:
    """Every DDL statement of the guards for a dialect ('sqlite' or 'postgresql') as the
    head revision holds them, in the order the revisions install them; with ``part`` (a
    key of `PARTS`, `SQLITE_ROWS_SINCE`, `SUMMARY_SINCE` or `PLANNED_SINCE`) only what
    that revision installed."""
    if part == SQLITE_ROWS_SINCE:
        if dialect != "sqlite":
            return []
        return [stmt for p in PARTS.values() for m in p[0] for stmt in _sqlite(m)]
    if part == SUMMARY_SINCE:
        return summary_statements(dialect)
    if part == PLANNED_SINCE:
        return planned_statements(dialect)
    if part:
        return _part_statements(dialect, part, head=False)
    return [stmt for p in PARTS for stmt in _part_statements(dialect, p, head=True)
            ] + summary_statements(dialect)


def drop_statements(dialect: str, part: str | None = None) -> list[str]:
    """What removes the guards of the head revision (the later parts first), or what one
    revision's downgrade removes of them (``part``)."""
    if part == SQLITE_ROWS_SINCE:
        return _sqlite_drops(_machine_tables(), head=True) if dialect == "sqlite" else []
    if part == SUMMARY_SINCE:
        return summary_drops(dialect)
    if part == PLANNED_SINCE:
        return []  # it replaces functions, it drops nothing (`planned_statements`)
    if part:
        return _part_drops(dialect, part, head=False)
    return summary_drops(dialect) + [
        stmt for p in reversed(PARTS) for stmt in _part_drops(dialect, p, head=True)]


def replaced_statements(dialect: str) -> tuple[list[str], list[str]]:
    """What `SQLITE_ROWS_SINCE` replaced (SQLite's five row triggers of every machine):
    their DDL and the drops, for that revision's literals (its downgrade re-creates them)."""
    if dialect != "sqlite":
        return [], []
    old = [stmt for p in PARTS.values() for m in p[0] for stmt in _sqlite_0001(m)]
    return old, _sqlite_drops(_machine_tables(), head=False)
