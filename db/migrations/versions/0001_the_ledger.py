"""the ledger

Revision ID: 0001
Revises: 
Create Date: 2026-11-26

Tables of the ledger, the transition tables of both state machines and the database's
guards (triggers).

Frozen: the transition rows and the guards' DDL below are literals, written out once from
what `db.machines` / `db.guards` produced when this revision was made. A migration never
imports live code: a later change to a state machine or a guard is a new revision (and
`tests/db/test_migrate.py` fails until there is one), so that old and new databases end up
with the same rows and triggers.
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


#: (from_status, to_status, coordinator_only) of the member machine as of 0001.
MEMBER_TRANSITION_ROWS = [
    ('active', 'deceased', True),
    ('active', 'do_not_contact', False),
    ('active', 'moved_out', False),
    ('active', 'unreachable', False),
    ('do_not_contact', 'active', True),
    ('do_not_contact', 'deceased', True),
    ('do_not_contact', 'moved_out', True),
    ('do_not_contact', 'unverified', True),
    ('moved_out', 'active', False),
    ('moved_out', 'deceased', True),
    ('moved_out', 'do_not_contact', False),
    ('moved_out', 'unverified', False),
    ('new', 'active', False),
    ('new', 'unverified', False),
    ('unreachable', 'active', False),
    ('unreachable', 'deceased', True),
    ('unreachable', 'do_not_contact', False),
    ('unreachable', 'moved_out', False),
    ('unverified', 'active', False),
    ('unverified', 'deceased', True),
    ('unverified', 'do_not_contact', False),
    ('unverified', 'moved_out', False),
    ('unverified', 'unreachable', False),
]

#: (from_status, to_status) of the task machine as of 0001.
TASK_TRANSITION_ROWS = [
    ('assigned', 'assigned'),
    ('assigned', 'cancelled'),
    ('assigned', 'done'),
    ('assigned', 'expired'),
    ('assigned', 'failed'),
    ('assigned', 'open'),
    ('new', 'assigned'),
    ('new', 'open'),
    ('open', 'assigned'),
    ('open', 'cancelled'),
    ('open', 'expired'),
]

#: The guards' DDL on sqlite, in order.
SQLITE_GUARDS = [
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
    "CREATE TRIGGER member_status_changes_no_update BEFORE UPDATE ON member_status_changes BEGIN SELECT RAISE(ABORT, 'member_status_changes is append-only'); END",
    "CREATE TRIGGER member_status_changes_no_delete BEFORE DELETE ON member_status_changes BEGIN SELECT RAISE(ABORT, 'member_status_changes is append-only'); END",
    "CREATE TRIGGER task_status_changes_no_update BEFORE UPDATE ON task_status_changes BEGIN SELECT RAISE(ABORT, 'task_status_changes is append-only'); END",
    "CREATE TRIGGER task_status_changes_no_delete BEFORE DELETE ON task_status_changes BEGIN SELECT RAISE(ABORT, 'task_status_changes is append-only'); END",
    "CREATE TRIGGER member_changes_no_update BEFORE UPDATE ON member_changes BEGIN SELECT RAISE(ABORT, 'member_changes is append-only'); END",
    "CREATE TRIGGER member_changes_no_delete BEFORE DELETE ON member_changes BEGIN SELECT RAISE(ABORT, 'member_changes is append-only'); END",
]

#: What removes them on sqlite.
SQLITE_DROPS = [
    "DROP TRIGGER IF EXISTS members_guard_insert",
    "DROP TRIGGER IF EXISTS members_guard_reinsert",
    "DROP TRIGGER IF EXISTS members_history_insert",
    "DROP TRIGGER IF EXISTS members_guard_update",
    "DROP TRIGGER IF EXISTS members_history_update",
    "DROP TRIGGER IF EXISTS outreach_tasks_guard_insert",
    "DROP TRIGGER IF EXISTS outreach_tasks_guard_reinsert",
    "DROP TRIGGER IF EXISTS outreach_tasks_history_insert",
    "DROP TRIGGER IF EXISTS outreach_tasks_guard_update",
    "DROP TRIGGER IF EXISTS outreach_tasks_history_update",
    "DROP TRIGGER IF EXISTS member_status_changes_no_update",
    "DROP TRIGGER IF EXISTS member_status_changes_no_delete",
    "DROP TRIGGER IF EXISTS task_status_changes_no_update",
    "DROP TRIGGER IF EXISTS task_status_changes_no_delete",
    "DROP TRIGGER IF EXISTS member_changes_no_update",
    "DROP TRIGGER IF EXISTS member_changes_no_delete",
]

#: The guards' DDL on postgresql, in order.
POSTGRESQL_GUARDS = [
    """CREATE FUNCTION members_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE bad text;
        BEGIN
          SELECT n.status INTO bad FROM new_rows n WHERE NOT EXISTS
            (SELECT 1 FROM member_transition x WHERE x.from_status = 'new' AND x.to_status = n.status);
          IF FOUND THEN
            RAISE EXCEPTION 'illegal member transition: % is not an initial status', bad
              USING ERRCODE = 'check_violation';
          END IF;
          INSERT INTO member_status_changes (member_id, from_status, to_status, actor_id, reason, at)
            SELECT n.id, 'new', n.status, n.status_by, n.status_reason, (now() AT TIME ZONE 'utc') FROM new_rows n;
          RETURN NULL;
        END $$""",
    """CREATE TRIGGER members_after_insert AFTER INSERT ON members
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION members_after_insert()""",
    """CREATE FUNCTION members_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
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
    """CREATE TRIGGER members_after_update AFTER UPDATE ON members
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION members_after_update()""",
    """CREATE FUNCTION outreach_tasks_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE bad text;
        BEGIN
          SELECT n.status INTO bad FROM new_rows n WHERE NOT EXISTS
            (SELECT 1 FROM task_transition x WHERE x.from_status = 'new' AND x.to_status = n.status);
          IF FOUND THEN
            RAISE EXCEPTION 'illegal task transition: % is not an initial status', bad
              USING ERRCODE = 'check_violation';
          END IF;
          INSERT INTO task_status_changes (task_id, from_status, to_status, volunteer_id, actor_id, reason, at)
            SELECT n.id, 'new', n.status, n.volunteer_id, n.status_by, n.status_reason, (now() AT TIME ZONE 'utc') FROM new_rows n;
          RETURN NULL;
        END $$""",
    """CREATE TRIGGER outreach_tasks_after_insert AFTER INSERT ON outreach_tasks
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION outreach_tasks_after_insert()""",
    """CREATE FUNCTION outreach_tasks_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
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
    """CREATE TRIGGER outreach_tasks_after_update AFTER UPDATE ON outreach_tasks
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION outreach_tasks_after_update()""",
    """CREATE FUNCTION outreach_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME
          USING ERRCODE = 'check_violation'; END $$""",
    "CREATE TRIGGER member_status_changes_append_only BEFORE UPDATE OR DELETE ON member_status_changes FOR EACH ROW EXECUTE FUNCTION outreach_append_only()",
    "CREATE TRIGGER member_status_changes_no_truncate BEFORE TRUNCATE ON member_status_changes FOR EACH STATEMENT EXECUTE FUNCTION outreach_append_only()",
    "CREATE TRIGGER task_status_changes_append_only BEFORE UPDATE OR DELETE ON task_status_changes FOR EACH ROW EXECUTE FUNCTION outreach_append_only()",
    "CREATE TRIGGER task_status_changes_no_truncate BEFORE TRUNCATE ON task_status_changes FOR EACH STATEMENT EXECUTE FUNCTION outreach_append_only()",
    "CREATE TRIGGER member_changes_append_only BEFORE UPDATE OR DELETE ON member_changes FOR EACH ROW EXECUTE FUNCTION outreach_append_only()",
    "CREATE TRIGGER member_changes_no_truncate BEFORE TRUNCATE ON member_changes FOR EACH STATEMENT EXECUTE FUNCTION outreach_append_only()",
]

#: What removes them on postgresql.
POSTGRESQL_DROPS = [
    "DROP TRIGGER IF EXISTS members_after_insert ON members",
    "DROP FUNCTION IF EXISTS members_after_insert()",
    "DROP TRIGGER IF EXISTS members_after_update ON members",
    "DROP FUNCTION IF EXISTS members_after_update()",
    "DROP TRIGGER IF EXISTS outreach_tasks_after_insert ON outreach_tasks",
    "DROP FUNCTION IF EXISTS outreach_tasks_after_insert()",
    "DROP TRIGGER IF EXISTS outreach_tasks_after_update ON outreach_tasks",
    "DROP FUNCTION IF EXISTS outreach_tasks_after_update()",
    "DROP TRIGGER IF EXISTS member_status_changes_append_only ON member_status_changes",
    "DROP TRIGGER IF EXISTS member_status_changes_no_truncate ON member_status_changes",
    "DROP TRIGGER IF EXISTS task_status_changes_append_only ON task_status_changes",
    "DROP TRIGGER IF EXISTS task_status_changes_no_truncate ON task_status_changes",
    "DROP TRIGGER IF EXISTS member_changes_append_only ON member_changes",
    "DROP TRIGGER IF EXISTS member_changes_no_truncate ON member_changes",
    "DROP FUNCTION IF EXISTS outreach_append_only()",
]


def _guards() -> list[str]:
    return SQLITE_GUARDS if op.get_bind().dialect.name == "sqlite" else POSTGRESQL_GUARDS


def _drops() -> list[str]:
    return SQLITE_DROPS if op.get_bind().dialect.name == "sqlite" else POSTGRESQL_DROPS


def upgrade() -> None:
    op.create_table('branches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.Enum('geographic', 'interest', 'committee', name='branch_kind', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['parent_id'], ['branches.id'], name=op.f('fk_branches_parent_id_branches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_branches')),
    sa.UniqueConstraint('name', name=op.f('uq_branches_name'))
    )
    with op.batch_alter_table('branches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_branches_parent_id'), ['parent_id'], unique=False)

    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.Enum('survey', 'phone_visit', 'delivery', 'escalation', name='campaign_kind', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('window_days', sa.Integer(), nullable=False),
    sa.Column('cadence_days', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('due_days', sa.Integer(), nullable=False),
    sa.Column('retry_days', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('name', name=op.f('uq_campaigns_name'))
    )
    op.create_table('member_transition',
    sa.Column('from_status', sa.String(length=24), nullable=False),
    sa.Column('to_status', sa.String(length=24), nullable=False),
    sa.Column('coordinator_only', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('from_status', 'to_status', name=op.f('pk_member_transition'))
    )
    op.create_table('task_transition',
    sa.Column('from_status', sa.String(length=24), nullable=False),
    sa.Column('to_status', sa.String(length=24), nullable=False),
    sa.PrimaryKeyConstraint('from_status', 'to_status', name=op.f('pk_task_transition'))
    )
    op.create_table('campaign_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=20), nullable=False),
    sa.Column('material', sa.String(length=200), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_runs_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_runs')),
    sa.UniqueConstraint('campaign_id', 'period', name=op.f('uq_campaign_runs_campaign_id'))
    )
    op.create_table('volunteers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.Enum('volunteer', 'coordinator', name='role', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('code_salt', sa.String(length=64), nullable=False),
    sa.Column('code_hash', sa.String(length=128), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('capacity >= 0', name=op.f('ck_volunteers_capacity_non_negative')),
    sa.ForeignKeyConstraint(['branch_id'], ['branches.id'], name=op.f('fk_volunteers_branch_id_branches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volunteers'))
    )
    with op.batch_alter_table('volunteers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_volunteers_branch_id'), ['branch_id'], unique=False)

    op.create_table('members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ledger_no', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('home_address', sa.Text(), nullable=True),
    sa.Column('current_address', sa.Text(), nullable=True),
    sa.Column('residence', sa.Enum('local', 'away', name='residence', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('homebound', sa.Boolean(), nullable=False),
    sa.Column('family_contact_name', sa.String(length=200), nullable=True),
    sa.Column('family_contact_phone', sa.String(length=40), nullable=True),
    sa.Column('branch_id', sa.Integer(), nullable=False),
    sa.Column('interests', sa.Text(), nullable=True),
    sa.Column('needs', sa.Text(), nullable=True),
    sa.Column('status', sa.Enum('unverified', 'active', 'unreachable', 'moved_out', 'deceased', 'do_not_contact', name='member_status', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('status_by', sa.Integer(), nullable=True),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('phone_verified_on', sa.Date(), nullable=True),
    sa.Column('address_verified_on', sa.Date(), nullable=True),
    sa.Column('family_contact_verified_on', sa.Date(), nullable=True),
    sa.Column('confirmed_on', sa.Date(), nullable=True),
    sa.Column('last_contact_on', sa.Date(), nullable=True),
    sa.Column('last_reached_on', sa.Date(), nullable=True),
    sa.Column('last_reached_by', sa.Integer(), nullable=True),
    sa.Column('failed_contacts', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('failed_contacts >= 0', name=op.f('ck_members_failed_contacts_non_negative')),
    sa.ForeignKeyConstraint(['branch_id'], ['branches.id'], name=op.f('fk_members_branch_id_branches')),
    sa.ForeignKeyConstraint(['last_reached_by'], ['volunteers.id'], name=op.f('fk_members_last_reached_by_volunteers')),
    sa.ForeignKeyConstraint(['status_by'], ['volunteers.id'], name=op.f('fk_members_status_by_volunteers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_members')),
    sa.UniqueConstraint('ledger_no', name=op.f('uq_members_ledger_no'))
    )
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.create_index('ix_members_coverage', ['branch_id', 'residence', 'homebound', 'status', 'last_reached_on'], unique=False)

    op.create_table('member_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('field', sa.String(length=40), nullable=False),
    sa.Column('old_value', sa.Text(), nullable=True),
    sa.Column('new_value', sa.Text(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['volunteers.id'], name=op.f('fk_member_changes_actor_id_volunteers')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_member_changes_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_changes'))
    )
    with op.batch_alter_table('member_changes', schema=None) as batch_op:
        batch_op.create_index('ix_member_changes_field_at', ['field', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_member_changes_member_id'), ['member_id'], unique=False)

    op.create_table('member_status_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=24), nullable=False),
    sa.Column('to_status', sa.String(length=24), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['volunteers.id'], name=op.f('fk_member_status_changes_actor_id_volunteers')),
    sa.ForeignKeyConstraint(['from_status', 'to_status'], ['member_transition.from_status', 'member_transition.to_status'], name='fk_member_status_changes_pair'),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_member_status_changes_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_status_changes'))
    )
    with op.batch_alter_table('member_status_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_status_changes_member_id'), ['member_id'], unique=False)

    op.create_table('outreach_tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('survey', 'phone_visit', 'delivery', 'escalation', name='task_kind', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('status', sa.Enum('open', 'assigned', 'done', 'failed', 'cancelled', 'expired', name='task_status', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=True),
    sa.Column('status_by', sa.Integer(), nullable=True),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_on', sa.Date(), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('closes_on', sa.Date(), nullable=False),
    sa.Column('outcome', sa.Enum('reached', 'delivered', 'delivered_to_family', 'no_answer', 'not_home', 'left_message', 'callback_requested', 'wrong_number', 'moved', 'refused', 'do_not_contact', 'deceased', 'inaccessible', 'temporarily_away', name='task_outcome', native_enum=False, create_constraint=True, length=24), nullable=True),
    sa.Column('pending_confirmation', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status <> 'assigned' OR volunteer_id IS NOT NULL", name=op.f('ck_outreach_tasks_assigned_has_volunteer')),
    sa.CheckConstraint("status <> 'open' OR volunteer_id IS NULL", name=op.f('ck_outreach_tasks_open_has_no_volunteer')),
    sa.CheckConstraint('attempts >= 0 AND attempts <= max_attempts', name=op.f('ck_outreach_tasks_attempts_in_range')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_outreach_tasks_member_id_members')),
    sa.ForeignKeyConstraint(['run_id'], ['campaign_runs.id'], name=op.f('fk_outreach_tasks_run_id_campaign_runs')),
    sa.ForeignKeyConstraint(['status_by'], ['volunteers.id'], name=op.f('fk_outreach_tasks_status_by_volunteers')),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_outreach_tasks_volunteer_id_volunteers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outreach_tasks')),
    sa.UniqueConstraint('run_id', 'member_id', name=op.f('uq_outreach_tasks_run_id'))
    )
    with op.batch_alter_table('outreach_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_outreach_tasks_member_run', ['member_id', 'run_id', 'status', 'outcome'], unique=False)
        batch_op.create_index('ix_outreach_tasks_status_due', ['status', 'due_on'], unique=False)
        batch_op.create_index('ix_outreach_tasks_volunteer_status', ['volunteer_id', 'status'], unique=False)

    op.create_table('attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=True),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.Enum('reached', 'delivered', 'delivered_to_family', 'no_answer', 'not_home', 'left_message', 'callback_requested', 'wrong_number', 'moved', 'refused', 'do_not_contact', 'deceased', 'inaccessible', 'temporarily_away', name='attempt_outcome', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('answers', sa.Text(), nullable=True),
    sa.Column('source_key', sa.String(length=200), nullable=True),
    sa.Column('recorded_on', sa.Date(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.Column('confirmed_by', sa.Integer(), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['confirmed_by'], ['volunteers.id'], name=op.f('fk_attempts_confirmed_by_volunteers')),
    sa.ForeignKeyConstraint(['task_id'], ['outreach_tasks.id'], name=op.f('fk_attempts_task_id_outreach_tasks')),
    sa.ForeignKeyConstraint(['recorded_by'], ['volunteers.id'], name=op.f('fk_attempts_recorded_by_volunteers')),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_attempts_volunteer_id_volunteers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attempts')),
    sa.UniqueConstraint('source_key', name=op.f('uq_attempts_source_key'))
    )
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_attempts_task_id'), ['task_id'], unique=False)

    op.create_table('task_status_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=24), nullable=False),
    sa.Column('to_status', sa.String(length=24), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['volunteers.id'], name=op.f('fk_task_status_changes_actor_id_volunteers')),
    sa.ForeignKeyConstraint(['from_status', 'to_status'], ['task_transition.from_status', 'task_transition.to_status'], name='fk_task_status_changes_pair'),
    sa.ForeignKeyConstraint(['task_id'], ['outreach_tasks.id'], name=op.f('fk_task_status_changes_task_id_outreach_tasks')),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_task_status_changes_volunteer_id_volunteers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_status_changes'))
    )
    with op.batch_alter_table('task_status_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_status_changes_task_id'), ['task_id'], unique=False)

    member_t = sa.table("member_transition", sa.column("from_status"), sa.column("to_status"),
                        sa.column("coordinator_only"))
    task_t = sa.table("task_transition", sa.column("from_status"), sa.column("to_status"))
    op.bulk_insert(member_t, [{"from_status": a, "to_status": b, "coordinator_only": c}
                              for a, b, c in MEMBER_TRANSITION_ROWS])
    op.bulk_insert(task_t, [{"from_status": a, "to_status": b} for a, b in TASK_TRANSITION_ROWS])
    for stmt in _guards():
        op.execute(stmt)


def downgrade() -> None:
    for stmt in _drops():
        op.execute(stmt)
    with op.batch_alter_table('task_status_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_status_changes_task_id'))

    op.drop_table('task_status_changes')
    with op.batch_alter_table('attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attempts_task_id'))

    op.drop_table('attempts')
    with op.batch_alter_table('outreach_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_outreach_tasks_volunteer_status')
        batch_op.drop_index('ix_outreach_tasks_status_due')
        batch_op.drop_index('ix_outreach_tasks_member_run')

    op.drop_table('outreach_tasks')
    with op.batch_alter_table('member_status_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_status_changes_member_id'))

    op.drop_table('member_status_changes')
    with op.batch_alter_table('member_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_changes_member_id'))
        batch_op.drop_index('ix_member_changes_field_at')

    op.drop_table('member_changes')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_index('ix_members_coverage')

    op.drop_table('members')
    with op.batch_alter_table('volunteers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volunteers_branch_id'))

    op.drop_table('volunteers')
    op.drop_table('campaign_runs')
    op.drop_table('task_transition')
    op.drop_table('member_transition')
    op.drop_table('campaigns')
    with op.batch_alter_table('branches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_branches_parent_id'))

    op.drop_table('branches')
