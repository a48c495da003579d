"""update guards planned for their own statement (PostgreSQL)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

PostgreSQL's guards are statement triggers whose functions join the transition tables
``old_rows`` and ``new_rows``. PL/pgSQL keeps each query's plan for the session from the
query's first run, and these queries have no parameters, so that plan is never made again:
after an UPDATE of one member, a later UPDATE of 15,000 members on the same connection met
a plan made for one row, a nested loop over both tables, and took 143 s instead of about
1 s. A long-lived pooled connection (the ledger service, a flow run's batches) does exactly
that. Every machine's update function now runs its two queries through EXECUTE, planned
each time for the statement's own rows (a single-row status change pays about 0.2 ms more).

SQLite's row triggers are not concerned: nothing changes there. Frozen like the others: the
functions' text (what `db.guards.planned_statements` gave when this revision was made) is
literal here, the new ones and the ones they replace (the downgrade puts those back).
"""
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


SQLITE_GUARDS: list[str] = []
SQLITE_DROPS: list[str] = []
POSTGRESQL_GUARDS = [
    """CREATE OR REPLACE FUNCTION members_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE f text; t text;
        BEGIN
          EXECUTE $q$SELECT o.status, n.status FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE n.status IS DISTINCT FROM o.status AND NOT EXISTS
              (SELECT 1 FROM member_transition x WHERE x.from_status = o.status AND x.to_status = n.status)$q$
            INTO f, t;
          IF t IS NOT NULL THEN
            RAISE EXCEPTION 'illegal member transition: % -> %', f, t
              USING ERRCODE = 'check_violation';
          END IF;
          EXECUTE $q$INSERT INTO member_status_changes (member_id, from_status, to_status, actor_id, reason, at)
            SELECT n.id, o.status, n.status, n.status_by, n.status_reason, (now() AT TIME ZONE 'utc')
            FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE n.status IS DISTINCT FROM o.status$q$;
          RETURN NULL;
        END $$""",
    """CREATE OR REPLACE FUNCTION outreach_tasks_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE f text; t text;
        BEGIN
          EXECUTE $q$SELECT o.status, n.status FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE n.status IS DISTINCT FROM o.status AND NOT EXISTS
              (SELECT 1 FROM task_transition x WHERE x.from_status = o.status AND x.to_status = n.status)$q$
            INTO f, t;
          IF t IS NOT NULL THEN
            RAISE EXCEPTION 'illegal task transition: % -> %', f, t
              USING ERRCODE = 'check_violation';
          END IF;
          EXECUTE $q$INSERT INTO task_status_changes (task_id, from_status, to_status, volunteer_id, actor_id, reason, at)
            SELECT n.id, o.status, n.status, n.volunteer_id, n.status_by, n.status_reason, (now() AT TIME ZONE 'utc')
            FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE n.status IS DISTINCT FROM o.status OR n.volunteer_id IS DISTINCT FROM o.volunteer_id$q$;
          RETURN NULL;
        END $$""",
    """CREATE OR REPLACE FUNCTION meetings_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE f text; t text;
        BEGIN
          EXECUTE $q$SELECT o.status, n.status FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE n.status IS DISTINCT FROM o.status AND NOT EXISTS
              (SELECT 1 FROM meeting_transition x WHERE x.from_status = o.status AND x.to_status = n.status)$q$
            INTO f, t;
          IF t IS NOT NULL THEN
            RAISE EXCEPTION 'illegal meeting transition: % -> %', f, t
              USING ERRCODE = 'check_violation';
          END IF;
          EXECUTE $q$INSERT INTO meeting_status_changes (meeting_id, from_status, to_status, planned_on, actor_id, reason, at)
            SELECT n.id, o.status, n.status, n.planned_on, n.status_by, n.status_reason, (now() AT TIME ZONE 'utc')
            FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE n.status IS DISTINCT FROM o.status OR n.planned_on IS DISTINCT FROM o.planned_on$q$;
          RETURN NULL;
        END $$""",
    """CREATE OR REPLACE FUNCTION attendance_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE f text; t text;
        BEGIN
          EXECUTE $q$SELECT o.status, n.status FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE n.status IS DISTINCT FROM o.status AND NOT EXISTS
              (SELECT 1 FROM attendance_transition x WHERE x.from_status = o.status AND x.to_status = n.status)$q$
            INTO f, t;
          IF t IS NOT NULL THEN
            RAISE EXCEPTION 'illegal attendance transition: % -> %', f, t
              USING ERRCODE = 'check_violation';
          END IF;
          EXECUTE $q$INSERT INTO attendance_status_changes (attendance_id, from_status, to_status, actor_id, reason, at)
            SELECT n.id, o.status, n.status, n.status_by, n.status_reason, (now() AT TIME ZONE 'utc')
            FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE n.status IS DISTINCT FROM o.status$q$;
          RETURN NULL;
        END $$""",
    """CREATE OR REPLACE FUNCTION care_occasions_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE f text; t text;
        BEGIN
          EXECUTE $q$SELECT o.status, n.status FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE n.status IS DISTINCT FROM o.status AND NOT EXISTS
              (SELECT 1 FROM care_transition x WHERE x.from_status = o.status AND x.to_status = n.status)$q$
            INTO f, t;
          IF t IS NOT NULL THEN
            RAISE EXCEPTION 'illegal care transition: % -> %', f, t
              USING ERRCODE = 'check_violation';
          END IF;
          EXECUTE $q$INSERT INTO care_occasion_status_changes (care_occasion_id, from_status, to_status, actor_id, reason, at)
            SELECT n.id, o.status, n.status, n.status_by, n.status_reason, (now() AT TIME ZONE 'utc')
            FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE n.status IS DISTINCT FROM o.status$q$;
          RETURN NULL;
        END $$""",
]
POSTGRESQL_REPLACED = [
    """CREATE OR REPLACE FUNCTION members_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE f text; t text;
        BEGIN
          SELECT o.status, n.status INTO f, t FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE n.status IS DISTINCT FROM o.status AND NOT EXISTS
              (SELECT 1 FROM member_transition x WHERE x.from_status = o.status AND x.to_status = n.status);
          IF FOUND THEN
            RAISE EXCEPTION 'illegal member transition: % -> %', f, t
              USING ERRCODE = 'check_violation';
          END IF;
          INSERT INTO member_status_changes (member_id, from_status, to_status, actor_id, reason, at)
            SELECT n.id, o.status, n.status, n.status_by, n.status_reason, (now() AT TIME ZONE 'utc')
            FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE n.status IS DISTINCT FROM o.status;
          RETURN NULL;
        END $$""",
    """CREATE OR REPLACE FUNCTION outreach_tasks_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE f text; t text;
        BEGIN
          SELECT o.status, n.status INTO f, t FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE n.status IS DISTINCT FROM o.status AND NOT EXISTS
              (SELECT 1 FROM task_transition x WHERE x.from_status = o.status AND x.to_status = n.status);
          IF FOUND THEN
            RAISE EXCEPTION 'illegal task transition: % -> %', f, t
              USING ERRCODE = 'check_violation';
          END IF;
          INSERT INTO task_status_changes (task_id, from_status, to_status, volunteer_id, actor_id, reason, at)
            SELECT n.id, o.status, n.status, n.volunteer_id, n.status_by, n.status_reason, (now() AT TIME ZONE 'utc')
            FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE n.status IS DISTINCT FROM o.status OR n.volunteer_id IS DISTINCT FROM o.volunteer_id;
          RETURN NULL;
        END $$""",
    """CREATE OR REPLACE FUNCTION meetings_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE f text; t text;
        BEGIN
          SELECT o.status, n.status INTO f, t FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE n.status IS DISTINCT FROM o.status AND NOT EXISTS
              (SELECT 1 FROM meeting_transition x WHERE x.from_status = o.status AND x.to_status = n.status);
          IF FOUND THEN
            RAISE EXCEPTION 'illegal meeting transition: % -> %', f, t
              USING ERRCODE = 'check_violation';
          END IF;
          INSERT INTO meeting_status_changes (meeting_id, from_status, to_status, planned_on, actor_id, reason, at)
            SELECT n.id, o.status, n.status, n.planned_on, n.status_by, n.status_reason, (now() AT TIME ZONE 'utc')
            FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE n.status IS DISTINCT FROM o.status OR n.planned_on IS DISTINCT FROM o.planned_on;
          RETURN NULL;
        END $$""",
    """CREATE OR REPLACE FUNCTION attendance_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE f text; t text;
        BEGIN
          SELECT o.status, n.status INTO f, t FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE n.status IS DISTINCT FROM o.status AND NOT EXISTS
              (SELECT 1 FROM attendance_transition x WHERE x.from_status = o.status AND x.to_status = n.status);
          IF FOUND THEN
            RAISE EXCEPTION 'illegal attendance transition: % -> %', f, t
              USING ERRCODE = 'check_violation';
          END IF;
          INSERT INTO attendance_status_changes (attendance_id, from_status, to_status, actor_id, reason, at)
            SELECT n.id, o.status, n.status, n.status_by, n.status_reason, (now() AT TIME ZONE 'utc')
            FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE n.status IS DISTINCT FROM o.status;
          RETURN NULL;
        END $$""",
    """CREATE OR REPLACE FUNCTION care_occasions_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE f text; t text;
        BEGIN
          SELECT o.status, n.status INTO f, t FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE n.status IS DISTINCT FROM o.status AND NOT EXISTS
              (SELECT 1 FROM care_transition x WHERE x.from_status = o.status AND x.to_status = n.status);
          IF FOUND THEN
            RAISE EXCEPTION 'illegal care transition: % -> %', f, t
              USING ERRCODE = 'check_violation';
          END IF;
          INSERT INTO care_occasion_status_changes (care_occasion_id, from_status, to_status, actor_id, reason, at)
            SELECT n.id, o.status, n.status, n.status_by, n.status_reason, (now() AT TIME ZONE 'utc')
            FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE n.status IS DISTINCT FROM o.status;
          RETURN NULL;
        END $$""",
]

POSTGRESQL_DROPS: list[str] = []


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for stmt in POSTGRESQL_GUARDS:
            op.execute(stmt)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for stmt in POSTGRESQL_REPLACED:
            op.execute(stmt)
