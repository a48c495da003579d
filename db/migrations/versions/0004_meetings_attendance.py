"""meetings, attendance, branch roles

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

Organisational life (issue 12), the data layer:

* ``meetings`` (a branch's assembly, committee, group, lecture, theme day) and
  ``attendance`` (one row per invited member and meeting), each with a state machine
  guarded like members and tasks: ``meeting_transition`` / ``attendance_transition`` hold
  the allowed pairs, ``meeting_status_changes`` / ``attendance_status_changes`` the
  append-only history (a meeting moved to another date is its ``planned → planned`` row,
  carrying the new ``planned_on``);
* ``branch_roles``: a member's role in a branch (secretary, deputy, committee).

Frozen like 0001: the transition rows and the guards' DDL are literals, written out once
from what `db.machines` / `db.guards` (part "0004") produced when this revision was made;
no import of live code. New tables only: nothing here alters a table that has triggers
(no batch mode on SQLite).
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


#: (from_status, to_status) of the meeting machine as of 0004.
MEETING_TRANSITION_ROWS = [
    ('held', 'closed'),
    ('new', 'held'),
    ('new', 'planned'),
    ('planned', 'cancelled'),
    ('planned', 'held'),
    ('planned', 'planned'),
]

#: (from_status, to_status) of the attendance machine as of 0004.
ATTENDANCE_TRANSITION_ROWS = [
    ('absent', 'excused'),
    ('absent', 'made_up'),
    ('absent', 'present'),
    ('absent', 'remote'),
    ('excused', 'absent'),
    ('excused', 'made_up'),
    ('excused', 'present'),
    ('excused', 'remote'),
    ('invited', 'absent'),
    ('invited', 'excused'),
    ('invited', 'present'),
    ('invited', 'remote'),
    ('new', 'absent'),
    ('new', 'excused'),
    ('new', 'invited'),
    ('new', 'present'),
    ('new', 'remote'),
    ('present', 'absent'),
    ('present', 'excused'),
    ('present', 'remote'),
    ('remote', 'absent'),
    ('remote', 'excused'),
    ('remote', 'present'),
]

#: The guards' DDL on sqlite, in order.
SQLITE_GUARDS = [
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
    "CREATE TRIGGER meeting_status_changes_no_update BEFORE UPDATE ON meeting_status_changes BEGIN SELECT RAISE(ABORT, 'meeting_status_changes is append-only'); END",
    "CREATE TRIGGER meeting_status_changes_no_delete BEFORE DELETE ON meeting_status_changes BEGIN SELECT RAISE(ABORT, 'meeting_status_changes is append-only'); END",
    "CREATE TRIGGER attendance_status_changes_no_update BEFORE UPDATE ON attendance_status_changes BEGIN SELECT RAISE(ABORT, 'attendance_status_changes is append-only'); END",
    "CREATE TRIGGER attendance_status_changes_no_delete BEFORE DELETE ON attendance_status_changes BEGIN SELECT RAISE(ABORT, 'attendance_status_changes is append-only'); END",
]

#: What removes them on sqlite.
SQLITE_DROPS = [
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
    'DROP TRIGGER IF EXISTS meeting_status_changes_no_update',
    'DROP TRIGGER IF EXISTS meeting_status_changes_no_delete',
    'DROP TRIGGER IF EXISTS attendance_status_changes_no_update',
    'DROP TRIGGER IF EXISTS attendance_status_changes_no_delete',
]

#: The guards' DDL on postgresql, in order (outreach_append_only() is 0001's).
POSTGRESQL_GUARDS = [
    """CREATE FUNCTION meetings_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE bad text;
        BEGIN
          SELECT n.status INTO bad FROM new_rows n WHERE NOT EXISTS
            (SELECT 1 FROM meeting_transition x WHERE x.from_status = 'new' AND x.to_status = n.status);
          IF FOUND THEN
            RAISE EXCEPTION 'illegal meeting transition: % is not an initial status', bad
              USING ERRCODE = 'check_violation';
          END IF;
          INSERT INTO meeting_status_changes (meeting_id, from_status, to_status, planned_on, actor_id, reason, at)
            SELECT n.id, 'new', n.status, n.planned_on, n.status_by, n.status_reason, (now() AT TIME ZONE 'utc') FROM new_rows n;
          RETURN NULL;
        END $$""",
    """CREATE TRIGGER meetings_after_insert AFTER INSERT ON meetings
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION meetings_after_insert()""",
    """CREATE FUNCTION meetings_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
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
    """CREATE TRIGGER meetings_after_update AFTER UPDATE ON meetings
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION meetings_after_update()""",
    """CREATE FUNCTION attendance_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE bad text;
        BEGIN
          SELECT n.status INTO bad FROM new_rows n WHERE NOT EXISTS
            (SELECT 1 FROM attendance_transition x WHERE x.from_status = 'new' AND x.to_status = n.status);
          IF FOUND THEN
            RAISE EXCEPTION 'illegal attendance transition: % is not an initial status', bad
              USING ERRCODE = 'check_violation';
          END IF;
          INSERT INTO attendance_status_changes (attendance_id, from_status, to_status, actor_id, reason, at)
            SELECT n.id, 'new', n.status, n.status_by, n.status_reason, (now() AT TIME ZONE 'utc') FROM new_rows n;
          RETURN NULL;
        END $$""",
    """CREATE TRIGGER attendance_after_insert AFTER INSERT ON attendance
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION attendance_after_insert()""",
    """CREATE FUNCTION attendance_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
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
    """CREATE TRIGGER attendance_after_update AFTER UPDATE ON attendance
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION attendance_after_update()""",
    'CREATE TRIGGER meeting_status_changes_append_only BEFORE UPDATE OR DELETE ON meeting_status_changes FOR EACH ROW EXECUTE FUNCTION outreach_append_only()',
    'CREATE TRIGGER meeting_status_changes_no_truncate BEFORE TRUNCATE ON meeting_status_changes FOR EACH STATEMENT EXECUTE FUNCTION outreach_append_only()',
    'CREATE TRIGGER attendance_status_changes_append_only BEFORE UPDATE OR DELETE ON attendance_status_changes FOR EACH ROW EXECUTE FUNCTION outreach_append_only()',
    'CREATE TRIGGER attendance_status_changes_no_truncate BEFORE TRUNCATE ON attendance_status_changes FOR EACH STATEMENT EXECUTE FUNCTION outreach_append_only()',
]

#: What removes them on postgresql.
POSTGRESQL_DROPS = [
    'DROP TRIGGER IF EXISTS meetings_after_insert ON meetings',
    'DROP FUNCTION IF EXISTS meetings_after_insert()',
    'DROP TRIGGER IF EXISTS meetings_after_update ON meetings',
    'DROP FUNCTION IF EXISTS meetings_after_update()',
    'DROP TRIGGER IF EXISTS attendance_after_insert ON attendance',
    'DROP FUNCTION IF EXISTS attendance_after_insert()',
    'DROP TRIGGER IF EXISTS attendance_after_update ON attendance',
    'DROP FUNCTION IF EXISTS attendance_after_update()',
    'DROP TRIGGER IF EXISTS meeting_status_changes_append_only ON meeting_status_changes',
    'DROP TRIGGER IF EXISTS meeting_status_changes_no_truncate ON meeting_status_changes',
    'DROP TRIGGER IF EXISTS attendance_status_changes_append_only ON attendance_status_changes',
    'DROP TRIGGER IF EXISTS attendance_status_changes_no_truncate ON attendance_status_changes',
]


def _dialect() -> str:
    name = op.get_bind().dialect.name
    if name not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"outreach migrations support sqlite and postgresql, not {name}")
    return name


def upgrade() -> None:
    dialect = _dialect()
    op.create_table('attendance_transition',
    sa.Column('from_status', sa.String(length=24), nullable=False),
    sa.Column('to_status', sa.String(length=24), nullable=False),
    sa.PrimaryKeyConstraint('from_status', 'to_status', name=op.f('pk_attendance_transition'))
    )
    op.create_table('meeting_transition',
    sa.Column('from_status', sa.String(length=24), nullable=False),
    sa.Column('to_status', sa.String(length=24), nullable=False),
    sa.PrimaryKeyConstraint('from_status', 'to_status', name=op.f('pk_meeting_transition'))
    )
    op.create_table('meetings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('assembly', 'committee', 'group', 'lecture', 'theme_day', name='meeting_kind', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('status', sa.Enum('planned', 'held', 'closed', 'cancelled', name='meeting_status', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('planned_on', sa.Date(), nullable=False),
    sa.Column('held_on', sa.Date(), nullable=True),
    sa.Column('topic', sa.String(length=200), nullable=True),
    sa.Column('material', sa.String(length=200), nullable=True),
    sa.Column('place', sa.String(length=200), nullable=True),
    sa.Column('remote', sa.Enum('none', 'phone', 'video', name='remote_option', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('remote_details', sa.String(length=200), nullable=True),
    sa.Column('chair', sa.String(length=200), nullable=True),
    sa.Column('recorder', sa.String(length=200), nullable=True),
    sa.Column('minutes', sa.Text(), nullable=True),
    sa.Column('decisions', sa.Text(), nullable=True),
    sa.Column('status_by', sa.Integer(), nullable=True),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('held', 'closed') OR held_on IS NULL", name=op.f('ck_meetings_only_held_has_date')),
    sa.CheckConstraint("status NOT IN ('held', 'closed') OR held_on IS NOT NULL", name=op.f('ck_meetings_held_has_date')),
    sa.ForeignKeyConstraint(['branch_id'], ['branches.id'], name=op.f('fk_meetings_branch_id_branches')),
    sa.ForeignKeyConstraint(['status_by'], ['volunteers.id'], name=op.f('fk_meetings_status_by_volunteers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meetings'))
    )
    op.create_index('ix_meetings_branch_kind', 'meetings', ['branch_id', 'kind', 'status', 'planned_on'], unique=False)
    op.create_index('ix_meetings_status_planned', 'meetings', ['status', 'planned_on'], unique=False)
    op.create_table('attendance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('invited', 'present', 'remote', 'excused', 'absent', 'made_up', name='attendance_status', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('made_up_on', sa.Date(), nullable=True),
    sa.Column('made_up_how', sa.Enum('visit', 'phone', 'materials', name='make_up_how', native_enum=False, create_constraint=True, length=24), nullable=True),
    sa.Column('status_by', sa.Integer(), nullable=True),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status <> 'made_up' OR (made_up_on IS NOT NULL AND made_up_how IS NOT NULL)", name=op.f('ck_attendance_made_up_has_when_and_how')),
    sa.CheckConstraint("status = 'made_up' OR (made_up_on IS NULL AND made_up_how IS NULL)", name=op.f('ck_attendance_only_made_up_has_when')),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_attendance_meeting_id_meetings')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_attendance_member_id_members')),
    sa.ForeignKeyConstraint(['status_by'], ['volunteers.id'], name=op.f('fk_attendance_status_by_volunteers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attendance')),
    sa.UniqueConstraint('meeting_id', 'member_id', name=op.f('uq_attendance_meeting_id'))
    )
    op.create_index('ix_attendance_meeting_status', 'attendance', ['meeting_id', 'status'], unique=False)
    op.create_index('ix_attendance_member_status', 'attendance', ['member_id', 'status'], unique=False)
    op.create_table('branch_roles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('secretary', 'deputy', 'committee', name='member_role', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('since', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['branch_id'], ['branches.id'], name=op.f('fk_branch_roles_branch_id_branches')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_branch_roles_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_branch_roles')),
    sa.UniqueConstraint('branch_id', 'member_id', name=op.f('uq_branch_roles_branch_id'))
    )
    op.create_index(op.f('ix_branch_roles_member_id'), 'branch_roles', ['member_id'], unique=False)
    op.create_table('meeting_status_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=24), nullable=False),
    sa.Column('to_status', sa.String(length=24), nullable=False),
    sa.Column('planned_on', sa.Date(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['volunteers.id'], name=op.f('fk_meeting_status_changes_actor_id_volunteers')),
    sa.ForeignKeyConstraint(['from_status', 'to_status'], ['meeting_transition.from_status', 'meeting_transition.to_status'], name='fk_meeting_status_changes_pair'),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_meeting_status_changes_meeting_id_meetings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meeting_status_changes'))
    )
    op.create_index(op.f('ix_meeting_status_changes_meeting_id'), 'meeting_status_changes', ['meeting_id'], unique=False)
    op.create_table('attendance_status_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('attendance_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=24), nullable=False),
    sa.Column('to_status', sa.String(length=24), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['volunteers.id'], name=op.f('fk_attendance_status_changes_actor_id_volunteers')),
    sa.ForeignKeyConstraint(['attendance_id'], ['attendance.id'], name=op.f('fk_attendance_status_changes_attendance_id_attendance')),
    sa.ForeignKeyConstraint(['from_status', 'to_status'], ['attendance_transition.from_status', 'attendance_transition.to_status'], name='fk_attendance_status_changes_pair'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attendance_status_changes'))
    )
    op.create_index(op.f('ix_attendance_status_changes_attendance_id'), 'attendance_status_changes', ['attendance_id'], unique=False)
    # ### end Alembic commands ###

    meeting_t = sa.table("meeting_transition", sa.column("from_status"), sa.column("to_status"))
    attendance_t = sa.table("attendance_transition", sa.column("from_status"),
                            sa.column("to_status"))
    op.bulk_insert(meeting_t, [{"from_status": a, "to_status": b}
                               for a, b in MEETING_TRANSITION_ROWS])
    op.bulk_insert(attendance_t, [{"from_status": a, "to_status": b}
                                  for a, b in ATTENDANCE_TRANSITION_ROWS])
    for stmt in SQLITE_GUARDS if dialect == "sqlite" else POSTGRESQL_GUARDS:
        op.execute(stmt)


def downgrade() -> None:
    for stmt in SQLITE_DROPS if _dialect() == "sqlite" else POSTGRESQL_DROPS:
        op.execute(stmt)

    op.drop_index(op.f('ix_attendance_status_changes_attendance_id'), table_name='attendance_status_changes')
    op.drop_table('attendance_status_changes')
    op.drop_index(op.f('ix_meeting_status_changes_meeting_id'), table_name='meeting_status_changes')
    op.drop_table('meeting_status_changes')
    op.drop_index(op.f('ix_branch_roles_member_id'), table_name='branch_roles')
    op.drop_table('branch_roles')
    op.drop_index('ix_attendance_member_status', table_name='attendance')
    op.drop_index('ix_attendance_meeting_status', table_name='attendance')
    op.drop_table('attendance')
    op.drop_index('ix_meetings_status_planned', table_name='meetings')
    op.drop_index('ix_meetings_branch_kind', table_name='meetings')
    op.drop_table('meetings')
    op.drop_table('meeting_transition')
    op.drop_table('attendance_transition')
    # ### end Alembic commands ###
