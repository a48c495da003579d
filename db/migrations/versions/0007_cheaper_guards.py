"""SQLite: cheaper guards — two row triggers a machine instead of five, enum CHECKs as OR

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

Issue 15 ("cheaper guards") and issue 12 (the seed's attendance). Measured on SQLite
(bench_campaign, 200,000 members, one INSERT … SELECT of 124,862 tasks): the real table cost
about 7 times the bare one in CPU, and two things in the schema made most of it, not the work a
guard has to do:

* **the enum CHECKs**: ``CHECK (kind IN ('survey', 'phone_visit', …))``. SQLite (3.40)
  evaluates a CHECK's IN list of three or more values by building an ephemeral index of
  the list *for every row* (``EXPLAIN``: ``OpenEphemeral`` inside the row loop, no
  ``Once``), even when the value is NULL; the three IN-list CHECKs of ``outreach_tasks``
  cost as much as its four indexes together (0.45 s of 1.0 s). The same CHECK written
  ``kind = 'survey' OR kind = 'phone_visit' OR …`` means exactly the same (NULL passes, any
  other value fails, same column affinity) and costs nothing measurable. Every enum CHECK
  (`CHECKS`, names unchanged) is rewritten so, in place, by SQLite's documented procedure
  as 0005 did (no table rebuild, so no trigger or index is lost). A later revision that
  widens one of these CHECKs on SQLite rewrites the OR form.
* **three row triggers a row on INSERT**, two on a status UPDATE: each call of a row
  trigger costs about half of what the history row it writes does (~1 µs against ~2 µs
  a row). The five triggers of each machine (``*_guard_insert``, ``*_guard_reinsert``,
  ``*_history_insert``, ``*_guard_update``, ``*_history_update``) become two,
  ``*_insert`` and ``*_update``
  (AFTER INSERT / AFTER UPDATE), making the same checks with the same messages before they
  write the history row (`db.guards` since this revision). Nothing is given up: a status
  that is not initial, an id that already has history (``INSERT OR REPLACE``), a pair not
  in the transition table are refused, and every insert and status change writes its row.

PostgreSQL is unchanged (statement triggers already write history set-based; what it pays
per row are the foreign-key checks), so this revision does nothing there.

Frozen like the others: the triggers' DDL (what `db.guards` gave when this revision was
made: `SQLITE_GUARDS`, and `SQLITE_REPLACED`, the 0001/0004/0006 triggers the downgrade
brings back) and every CHECK are literals; no import of live code.
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


_KINDS = ("survey", "phone_visit", "delivery", "escalation", "notice", "make_up", "care_visit",
          "transfer")
_OUTCOMES = ("reached", "delivered", "delivered_to_family", "no_answer", "not_home",
             "left_message", "callback_requested", "wrong_number", "moved", "refused",
             "do_not_contact", "deceased", "inaccessible", "temporarily_away", "visited",
             "gift_delivered", "help_arranged")

#: (table, constraint, column, values) of every enum CHECK on SQLite as of 0006.
CHECKS = [
    ("attempts", "ck_attempts_attempt_outcome", "outcome", _OUTCOMES),
    ("attendance", "ck_attendance_attendance_status", "status",
     ("invited", "present", "remote", "excused", "absent", "made_up")),
    ("attendance", "ck_attendance_make_up_how", "made_up_how", ("visit", "phone", "materials")),
    ("branch_roles", "ck_branch_roles_member_role", "role", ("secretary", "deputy", "committee")),
    ("branches", "ck_branches_branch_kind", "kind", ("geographic", "interest", "committee")),
    ("campaigns", "ck_campaigns_campaign_kind", "kind", _KINDS),
    ("care_occasions", "ck_care_occasions_care_kind", "kind",
     ("birthday", "double_ninth", "spring_festival", "life_event", "hardship")),
    ("care_occasions", "ck_care_occasions_care_status", "status",
     ("due", "visited", "missed", "cancelled")),
    ("contributions", "ck_contributions_contribution_kind", "kind",
     ("teaching", "volunteering", "mediation", "mentoring", "other")),
    ("life_events", "ck_life_events_life_event_kind", "kind",
     ("hospitalised", "bereaved", "hardship", "other")),
    ("meetings", "ck_meetings_meeting_kind", "kind",
     ("assembly", "committee", "group", "lecture", "theme_day")),
    ("meetings", "ck_meetings_meeting_status", "status",
     ("planned", "held", "closed", "cancelled")),
    ("meetings", "ck_meetings_remote_option", "remote", ("none", "phone", "video")),
    ("members", "ck_members_residence", "residence", ("local", "away")),
    ("members", "ck_members_member_status", "status",
     ("unverified", "active", "unreachable", "moved_out", "deceased", "do_not_contact")),
    ("movements", "ck_movements_movement_kind", "kind",
     ("away", "back", "moved_out", "back_in", "city")),
    ("movements", "ck_movements_movement_source", "source",
     ("outcome", "survey", "import", "cli", "system")),
    ("outreach_tasks", "ck_outreach_tasks_task_kind", "kind", _KINDS),
    ("outreach_tasks", "ck_outreach_tasks_task_status", "status",
     ("open", "assigned", "done", "failed", "cancelled", "expired")),
    ("outreach_tasks", "ck_outreach_tasks_task_outcome", "outcome", _OUTCOMES),
    ("volunteers", "ck_volunteers_role", "role", ("volunteer", "coordinator")),
]

#: The guards' DDL on sqlite since this revision, in order.
SQLITE_GUARDS = [
    """CREATE TRIGGER members_insert AFTER INSERT ON members
        BEGIN
          SELECT RAISE(ABORT, 'illegal member transition: not an initial status')
            WHERE NOT EXISTS (SELECT 1 FROM member_transition WHERE from_status = 'new' AND to_status = NEW.status);
          SELECT RAISE(ABORT, 'illegal member transition: this id already has history')
            WHERE EXISTS (SELECT 1 FROM member_status_changes WHERE member_id = NEW.id);
          INSERT INTO member_status_changes (member_id, from_status, to_status, actor_id, reason, at)
            VALUES (NEW.id, 'new', NEW.status, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP);
        END""",
    """CREATE TRIGGER members_update AFTER UPDATE ON members
        WHEN NEW.status IS NOT OLD.status
        BEGIN
          SELECT RAISE(ABORT, 'illegal member transition')
            WHERE NEW.status IS NOT OLD.status AND NOT EXISTS
              (SELECT 1 FROM member_transition WHERE from_status = OLD.status AND to_status = NEW.status);
          INSERT INTO member_status_changes (member_id, from_status, to_status, actor_id, reason, at)
            VALUES (NEW.id, OLD.status, NEW.status, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP);
        END""",
    """CREATE TRIGGER outreach_tasks_insert AFTER INSERT ON outreach_tasks
        BEGIN
          SELECT RAISE(ABORT, 'illegal task transition: not an initial status')
            WHERE NOT EXISTS (SELECT 1 FROM task_transition WHERE from_status = 'new' AND to_status = NEW.status);
          SELECT RAISE(ABORT, 'illegal task transition: this id already has history')
            WHERE EXISTS (SELECT 1 FROM task_status_changes WHERE task_id = NEW.id);
          INSERT INTO task_status_changes (task_id, from_status, to_status, volunteer_id, actor_id, reason, at)
            VALUES (NEW.id, 'new', NEW.status, NEW.volunteer_id, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP);
        END""",
    """CREATE TRIGGER outreach_tasks_update AFTER UPDATE ON outreach_tasks
        WHEN NEW.status IS NOT OLD.status OR NEW.volunteer_id IS NOT OLD.volunteer_id
        BEGIN
          SELECT RAISE(ABORT, 'illegal task transition')
            WHERE NEW.status IS NOT OLD.status AND NOT EXISTS
              (SELECT 1 FROM task_transition WHERE from_status = OLD.status AND to_status = NEW.status);
          INSERT INTO task_status_changes (task_id, from_status, to_status, volunteer_id, actor_id, reason, at)
            VALUES (NEW.id, OLD.status, NEW.status, NEW.volunteer_id, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP);
        END""",
    """CREATE TRIGGER meetings_insert AFTER INSERT ON meetings
        BEGIN
          SELECT RAISE(ABORT, 'illegal meeting transition: not an initial status')
            WHERE NOT EXISTS (SELECT 1 FROM meeting_transition WHERE from_status = 'new' AND to_status = NEW.status);
          SELECT RAISE(ABORT, 'illegal meeting transition: this id already has history')
            WHERE EXISTS (SELECT 1 FROM meeting_status_changes WHERE meeting_id = NEW.id);
          INSERT INTO meeting_status_changes (meeting_id, from_status, to_status, planned_on, actor_id, reason, at)
            VALUES (NEW.id, 'new', NEW.status, NEW.planned_on, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP);
        END""",
    """CREATE TRIGGER meetings_update AFTER UPDATE ON meetings
        WHEN NEW.status IS NOT OLD.status OR NEW.planned_on IS NOT OLD.planned_on
        BEGIN
          SELECT RAISE(ABORT, 'illegal meeting transition')
            WHERE NEW.status IS NOT OLD.status AND NOT EXISTS
              (SELECT 1 FROM meeting_transition WHERE from_status = OLD.status AND to_status = NEW.status);
          INSERT INTO meeting_status_changes (meeting_id, from_status, to_status, planned_on, actor_id, reason, at)
            VALUES (NEW.id, OLD.status, NEW.status, NEW.planned_on, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP);
        END""",
    """CREATE TRIGGER attendance_insert AFTER INSERT ON attendance
        BEGIN
          SELECT RAISE(ABORT, 'illegal attendance transition: not an initial status')
            WHERE NOT EXISTS (SELECT 1 FROM attendance_transition WHERE from_status = 'new' AND to_status = NEW.status);
          SELECT RAISE(ABORT, 'illegal attendance transition: this id already has history')
            WHERE EXISTS (SELECT 1 FROM attendance_status_changes WHERE attendance_id = NEW.id);
          INSERT INTO attendance_status_changes (attendance_id, from_status, to_status, actor_id, reason, at)
            VALUES (NEW.id, 'new', NEW.status, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP);
        END""",
    """CREATE TRIGGER attendance_update AFTER UPDATE ON attendance
        WHEN NEW.status IS NOT OLD.status
        BEGIN
          SELECT RAISE(ABORT, 'illegal attendance transition')
            WHERE NEW.status IS NOT OLD.status AND NOT EXISTS
              (SELECT 1 FROM attendance_transition WHERE from_status = OLD.status AND to_status = NEW.status);
          INSERT INTO attendance_status_changes (attendance_id, from_status, to_status, actor_id, reason, at)
            VALUES (NEW.id, OLD.status, NEW.status, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP);
        END""",
    """CREATE TRIGGER care_occasions_insert AFTER INSERT ON care_occasions
        BEGIN
          SELECT RAISE(ABORT, 'illegal care transition: not an initial status')
            WHERE NOT EXISTS (SELECT 1 FROM care_transition WHERE from_status = 'new' AND to_status = NEW.status);
          SELECT RAISE(ABORT, 'illegal care transition: this id already has history')
            WHERE EXISTS (SELECT 1 FROM care_occasion_status_changes WHERE care_occasion_id = NEW.id);
          INSERT INTO care_occasion_status_changes (care_occasion_id, from_status, to_status, actor_id, reason, at)
            VALUES (NEW.id, 'new', NEW.status, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP);
        END""",
    """CREATE TRIGGER care_occasions_update AFTER UPDATE ON care_occasions
        WHEN NEW.status IS NOT OLD.status
        BEGIN
          SELECT RAISE(ABORT, 'illegal care transition')
            WHERE NEW.status IS NOT OLD.status AND NOT EXISTS
              (SELECT 1 FROM care_transition WHERE from_status = OLD.status AND to_status = NEW.status);
          INSERT INTO care_occasion_status_changes (care_occasion_id, from_status, to_status, actor_id, reason, at)
            VALUES (NEW.id, OLD.status, NEW.status, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP);
        END""",
]

#: What removes them on sqlite.
SQLITE_DROPS = [
    'DROP TRIGGER IF EXISTS members_insert',
    'DROP TRIGGER IF EXISTS members_update',
    'DROP TRIGGER IF EXISTS outreach_tasks_insert',
    'DROP TRIGGER IF EXISTS outreach_tasks_update',
    'DROP TRIGGER IF EXISTS meetings_insert',
    'DROP TRIGGER IF EXISTS meetings_update',
    'DROP TRIGGER IF EXISTS attendance_insert',
    'DROP TRIGGER IF EXISTS attendance_update',
    'DROP TRIGGER IF EXISTS care_occasions_insert',
    'DROP TRIGGER IF EXISTS care_occasions_update',
]

#: The row triggers this revision replaces on sqlite (as 0001, 0004 and 0006 made them).
SQLITE_REPLACED = [
    """CREATE TRIGGER members_guard_insert BEFORE INSERT ON members
        WHEN NOT EXISTS (SELECT 1 FROM member_transition WHERE from_status = 'new' AND to_status = NEW.status)
        BEGIN SELECT RAISE(ABORT, 'illegal member transition: not an initial status'); END""",
    """CREATE TRIGGER members_guard_reinsert BEFORE INSERT ON members
        WHEN EXISTS (SELECT 1 FROM member_status_changes WHERE member_id = NEW.id)
        BEGIN SELECT RAISE(ABORT, 'illegal member transition: this id already has history'); END""",
    """CREATE TRIGGER members_history_insert AFTER INSERT ON members
        BEGIN INSERT INTO member_status_changes (member_id, from_status, to_status, actor_id, reason, at)
        VALUES (NEW.id, 'new', NEW.status, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP); END""",
    """CREATE TRIGGER members_guard_update BEFORE UPDATE OF status ON members
        WHEN NEW.status IS NOT OLD.status AND NOT EXISTS
          (SELECT 1 FROM member_transition WHERE from_status = OLD.status AND to_status = NEW.status)
        BEGIN SELECT RAISE(ABORT, 'illegal member transition'); END""",
    """CREATE TRIGGER members_history_update AFTER UPDATE ON members
        WHEN NEW.status IS NOT OLD.status
        BEGIN INSERT INTO member_status_changes (member_id, from_status, to_status, actor_id, reason, at)
        VALUES (NEW.id, OLD.status, NEW.status, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP); END""",
    """CREATE TRIGGER outreach_tasks_guard_insert BEFORE INSERT ON outreach_tasks
        WHEN NOT EXISTS (SELECT 1 FROM task_transition WHERE from_status = 'new' AND to_status = NEW.status)
        BEGIN SELECT RAISE(ABORT, 'illegal task transition: not an initial status'); END""",
    """CREATE TRIGGER outreach_tasks_guard_reinsert BEFORE INSERT ON outreach_tasks
        WHEN EXISTS (SELECT 1 FROM task_status_changes WHERE task_id = NEW.id)
        BEGIN SELECT RAISE(ABORT, 'illegal task transition: this id already has history'); END""",
    """CREATE TRIGGER outreach_tasks_history_insert AFTER INSERT ON outreach_tasks
        BEGIN INSERT INTO task_status_changes (task_id, from_status, to_status, volunteer_id, actor_id, reason, at)
        VALUES (NEW.id, 'new', NEW.status, NEW.volunteer_id, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP); END""",
    """CREATE TRIGGER outreach_tasks_guard_update BEFORE UPDATE OF status ON outreach_tasks
        WHEN NEW.status IS NOT OLD.status AND NOT EXISTS
          (SELECT 1 FROM task_transition WHERE from_status = OLD.status AND to_status = NEW.status)
        BEGIN SELECT RAISE(ABORT, 'illegal task transition'); END""",
    """CREATE TRIGGER outreach_tasks_history_update AFTER UPDATE ON outreach_tasks
        WHEN NEW.status IS NOT OLD.status OR NEW.volunteer_id IS NOT OLD.volunteer_id
        BEGIN INSERT INTO task_status_changes (task_id, from_status, to_status, volunteer_id, actor_id, reason, at)
        VALUES (NEW.id, OLD.status, NEW.status, NEW.volunteer_id, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP); END""",
    """CREATE TRIGGER meetings_guard_insert BEFORE INSERT ON meetings
        WHEN NOT EXISTS (SELECT 1 FROM meeting_transition WHERE from_status = 'new' AND to_status = NEW.status)
        BEGIN SELECT RAISE(ABORT, 'illegal meeting transition: not an initial status'); END""",
    """CREATE TRIGGER meetings_guard_reinsert BEFORE INSERT ON meetings
        WHEN EXISTS (SELECT 1 FROM meeting_status_changes WHERE meeting_id = NEW.id)
        BEGIN SELECT RAISE(ABORT, 'illegal meeting transition: this id already has history'); END""",
    """CREATE TRIGGER meetings_history_insert AFTER INSERT ON meetings
        BEGIN INSERT INTO meeting_status_changes (meeting_id, from_status, to_status, planned_on, actor_id, reason, at)
        VALUES (NEW.id, 'new', NEW.status, NEW.planned_on, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP); END""",
    """CREATE TRIGGER meetings_guard_update BEFORE UPDATE OF status ON meetings
        WHEN NEW.status IS NOT OLD.status AND NOT EXISTS
          (SELECT 1 FROM meeting_transition WHERE from_status = OLD.status AND to_status = NEW.status)
        BEGIN SELECT RAISE(ABORT, 'illegal meeting transition'); END""",
    """CREATE TRIGGER meetings_history_update AFTER UPDATE ON meetings
        WHEN NEW.status IS NOT OLD.status OR NEW.planned_on IS NOT OLD.planned_on
        BEGIN INSERT INTO meeting_status_changes (meeting_id, from_status, to_status, planned_on, actor_id, reason, at)
        VALUES (NEW.id, OLD.status, NEW.status, NEW.planned_on, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP); END""",
    """CREATE TRIGGER attendance_guard_insert BEFORE INSERT ON attendance
        WHEN NOT EXISTS (SELECT 1 FROM attendance_transition WHERE from_status = 'new' AND to_status = NEW.status)
        BEGIN SELECT RAISE(ABORT, 'illegal attendance transition: not an initial status'); END""",
    """CREATE TRIGGER attendance_guard_reinsert BEFORE INSERT ON attendance
        WHEN EXISTS (SELECT 1 FROM attendance_status_changes WHERE attendance_id = NEW.id)
        BEGIN SELECT RAISE(ABORT, 'illegal attendance transition: this id already has history'); END""",
    """CREATE TRIGGER attendance_history_insert AFTER INSERT ON attendance
        BEGIN INSERT INTO attendance_status_changes (attendance_id, from_status, to_status, actor_id, reason, at)
        VALUES (NEW.id, 'new', NEW.status, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP); END""",
    """CREATE TRIGGER attendance_guard_update BEFORE UPDATE OF status ON attendance
        WHEN NEW.status IS NOT OLD.status AND NOT EXISTS
          (SELECT 1 FROM attendance_transition WHERE from_status = OLD.status AND to_status = NEW.status)
        BEGIN SELECT RAISE(ABORT, 'illegal attendance transition'); END""",
    """CREATE TRIGGER attendance_history_update AFTER UPDATE ON attendance
        WHEN NEW.status IS NOT OLD.status
        BEGIN INSERT INTO attendance_status_changes (attendance_id, from_status, to_status, actor_id, reason, at)
        VALUES (NEW.id, OLD.status, NEW.status, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP); END""",
    """CREATE TRIGGER care_occasions_guard_insert BEFORE INSERT ON care_occasions
        WHEN NOT EXISTS (SELECT 1 FROM care_transition WHERE from_status = 'new' AND to_status = NEW.status)
        BEGIN SELECT RAISE(ABORT, 'illegal care transition: not an initial status'); END""",
    """CREATE TRIGGER care_occasions_guard_reinsert BEFORE INSERT ON care_occasions
        WHEN EXISTS (SELECT 1 FROM care_occasion_status_changes WHERE care_occasion_id = NEW.id)
        BEGIN SELECT RAISE(ABORT, 'illegal care transition: this id already has history'); END""",
    """CREATE TRIGGER care_occasions_history_insert AFTER INSERT ON care_occasions
        BEGIN INSERT INTO care_occasion_status_changes (care_occasion_id, from_status, to_status, actor_id, reason, at)
        VALUES (NEW.id, 'new', NEW.status, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP); END""",
    """CREATE TRIGGER care_occasions_guard_update BEFORE UPDATE OF status ON care_occasions
        WHEN NEW.status IS NOT OLD.status AND NOT EXISTS
          (SELECT 1 FROM care_transition WHERE from_status = OLD.status AND to_status = NEW.status)
        BEGIN SELECT RAISE(ABORT, 'illegal care transition'); END""",
    """CREATE TRIGGER care_occasions_history_update AFTER UPDATE ON care_occasions
        WHEN NEW.status IS NOT OLD.status
        BEGIN INSERT INTO care_occasion_status_changes (care_occasion_id, from_status, to_status, actor_id, reason, at)
        VALUES (NEW.id, OLD.status, NEW.status, NEW.status_by, NEW.status_reason, CURRENT_TIMESTAMP); END""",
]

#: What removes those.
SQLITE_REPLACED_DROPS = [
    'DROP TRIGGER IF EXISTS members_guard_insert',
    'DROP TRIGGER IF EXISTS members_guard_reinsert',
    'DROP TRIGGER IF EXISTS members_history_insert',
    'DROP TRIGGER IF EXISTS members_guard_update',
    'DROP TRIGGER IF EXISTS members_history_update',
    'DROP TRIGGER IF EXISTS outreach_tasks_guard_insert',
    'DROP TRIGGER IF EXISTS outreach_tasks_guard_reinsert',
    'DROP TRIGGER IF EXISTS outreach_tasks_history_insert',
    'DROP TRIGGER IF EXISTS outreach_tasks_guard_update',
    'DROP TRIGGER IF EXISTS outreach_tasks_history_update',
    'DROP TRIGGER IF EXISTS meetings_guard_insert',
    'DROP TRIGGER IF EXISTS meetings_guard_reinsert',
    'DROP TRIGGER IF EXISTS meetings_history_insert',
    'DROP TRIGGER IF EXISTS meetings_guard_update',
    'DROP TRIGGER IF EXISTS meetings_history_update',
    'DROP TRIGGER IF EXISTS attendance_guard_insert',
    'DROP TRIGGER IF EXISTS attendance_guard_reinsert',
    'DROP TRIGGER IF EXISTS attendance_history_insert',
    'DROP TRIGGER IF EXISTS attendance_guard_update',
    'DROP TRIGGER IF EXISTS attendance_history_update',
    'DROP TRIGGER IF EXISTS care_occasions_guard_insert',
    'DROP TRIGGER IF EXISTS care_occasions_guard_reinsert',
    'DROP TRIGGER IF EXISTS care_occasions_history_insert',
    'DROP TRIGGER IF EXISTS care_occasions_guard_update',
    'DROP TRIGGER IF EXISTS care_occasions_history_update',
]

#: Nothing changes on postgresql.
POSTGRESQL_GUARDS: list = []
POSTGRESQL_DROPS: list = []


def _dialect() -> str:
    name = op.get_bind().dialect.name
    if name not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"outreach migrations support sqlite and postgresql, not {name}")
    return name


def in_list(column: str, values: tuple) -> str:
    """A CHECK as SQLAlchemy wrote it (0001–0006)."""
    return f"CHECK ({column} IN ({', '.join(repr(v) for v in values)}))"


def or_chain(column: str, values: tuple) -> str:
    """The same CHECK as this revision writes it."""
    return "CHECK (" + " OR ".join(f"{column} = {v!r}" for v in values) + ")"


def _sqlite_rewrite(to_or: bool) -> None:
    """Rewrite every CHECK of `CHECKS` in its table's CREATE text (exactly once each), by
    SQLite's documented procedure (see 0005), then check the database's integrity."""
    conn = op.get_bind()
    texts: dict[str, str] = {}
    for table, _name, col, values in CHECKS:
        old, new = in_list(col, values), or_chain(col, values)
        if not to_or:
            old, new = new, old
        sql = texts.get(table) or conn.execute(sa.text(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"),
            {"t": table}).scalar_one()
        if sql.count(old) != 1:
            raise RuntimeError(f"table {table}: expected the constraint text {old!r} once; "
                               "the schema is not what this revision knows")
        texts[table] = sql.replace(old, new)
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar_one()
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        for table, sql in texts.items():
            conn.execute(sa.text("UPDATE sqlite_master SET sql = :s "
                                 "WHERE type = 'table' AND name = :t"), {"s": sql, "t": table})
        conn.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        conn.exec_driver_sql("PRAGMA writable_schema = OFF")
    problems = conn.exec_driver_sql("PRAGMA integrity_check").scalars().all()
    if problems != ["ok"]:
        raise RuntimeError("integrity check failed after rewriting the CHECK constraints: "
                           + "; ".join(problems[:5]))


def upgrade() -> None:
    if _dialect() != "sqlite":
        return
    _sqlite_rewrite(to_or=True)
    for stmt in SQLITE_REPLACED_DROPS + SQLITE_GUARDS:
        op.execute(stmt)


def downgrade() -> None:
    if _dialect() != "sqlite":
        return
    for stmt in SQLITE_DROPS + SQLITE_REPLACED:
        op.execute(stmt)
    _sqlite_rewrite(to_or=False)
