"""run tickets that carry their own authority; idempotency keys; the access log

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

Issue 24 ("Nothing acknowledged is ever lost"):

* ``run_tickets`` no longer keeps the coordinator's access code sealed with the ticket's
  secret (the sealed code in the ledger plus the ticket in Prefect's run parameters gave the
  permanent code back). A ticket now carries its own authority: the coordinator
  (``volunteer_id``), its purpose and expiry, and ``code_stamp`` (a hash of the
  coordinator's code hash when it was made: a code changed since stops it). Tickets live
  for minutes: the table is made anew, the rows of the old shape are dropped (a ticket
  that was waiting must be asked for again), in both directions.
* ``idempotency_keys``: the first answer to a write sent with an ``Idempotency-Key``, one
  person's key once (UNIQUE volunteer_id, key).
* ``access_events`` and ``access_event_members``: who was shown which members' contact
  details, when, through which door (never the details). Append-only like the history
  tables: UPDATE and DELETE refused (and TRUNCATE on PostgreSQL), the triggers frozen here
  as `db.guards` part "0012" produced them.

Frozen like the others: literals only, no import of live code.
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

#: The guards' DDL on sqlite, in order.
SQLITE_GUARDS = [
    "CREATE TRIGGER access_events_no_update BEFORE UPDATE ON access_events BEGIN SELECT RAISE(ABORT, 'access_events is append-only'); END",
    "CREATE TRIGGER access_events_no_delete BEFORE DELETE ON access_events BEGIN SELECT RAISE(ABORT, 'access_events is append-only'); END",
    "CREATE TRIGGER access_event_members_no_update BEFORE UPDATE ON access_event_members BEGIN SELECT RAISE(ABORT, 'access_event_members is append-only'); END",
    "CREATE TRIGGER access_event_members_no_delete BEFORE DELETE ON access_event_members BEGIN SELECT RAISE(ABORT, 'access_event_members is append-only'); END",
]
#: What removes them on sqlite.
SQLITE_DROPS = [
    'DROP TRIGGER IF EXISTS access_events_no_update',
    'DROP TRIGGER IF EXISTS access_events_no_delete',
    'DROP TRIGGER IF EXISTS access_event_members_no_update',
    'DROP TRIGGER IF EXISTS access_event_members_no_delete',
]
#: The guards' DDL on postgresql, in order (outreach_append_only() is 0001's).
POSTGRESQL_GUARDS = [
    'CREATE TRIGGER access_events_append_only BEFORE UPDATE OR DELETE ON access_events FOR EACH ROW EXECUTE FUNCTION outreach_append_only()',
    'CREATE TRIGGER access_events_no_truncate BEFORE TRUNCATE ON access_events FOR EACH STATEMENT EXECUTE FUNCTION outreach_append_only()',
    'CREATE TRIGGER access_event_members_append_only BEFORE UPDATE OR DELETE ON access_event_members FOR EACH ROW EXECUTE FUNCTION outreach_append_only()',
    'CREATE TRIGGER access_event_members_no_truncate BEFORE TRUNCATE ON access_event_members FOR EACH STATEMENT EXECUTE FUNCTION outreach_append_only()',
]
#: What removes them on postgresql.
POSTGRESQL_DROPS = [
    'DROP TRIGGER IF EXISTS access_events_append_only ON access_events',
    'DROP TRIGGER IF EXISTS access_events_no_truncate ON access_events',
    'DROP TRIGGER IF EXISTS access_event_members_append_only ON access_event_members',
    'DROP TRIGGER IF EXISTS access_event_members_no_truncate ON access_event_members',
]


def _dialect() -> str:
    return op.get_bind().dialect.name


def _tickets(old: bool) -> None:
    columns = [sa.Column('id', sa.Integer(), nullable=False),
               sa.Column('purpose', sa.String(length=40), nullable=False),
               sa.Column('secret_hash', sa.String(length=64), nullable=False)]
    if old:
        columns += [sa.Column('sealed', sa.String(length=200), nullable=False)]
    else:
        columns += [sa.Column('volunteer_id', sa.Integer(), nullable=False),
                    sa.Column('code_stamp', sa.String(length=64), nullable=False)]
    columns += [sa.Column('expires_at', sa.DateTime(), nullable=False)]
    extra = [] if old else [sa.ForeignKeyConstraint(
        ['volunteer_id'], ['volunteers.id'], name=op.f('fk_run_tickets_volunteer_id_volunteers'))]
    op.create_table('run_tickets', *columns, *extra,
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_run_tickets')))


def upgrade() -> None:
    op.drop_table('run_tickets')
    _tickets(old=False)
    op.create_table('idempotency_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_idempotency_keys_volunteer_id_volunteers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('volunteer_id', 'key', name=op.f('uq_idempotency_keys_volunteer_id'))
    )
    op.create_index('ix_idempotency_keys_created_at', 'idempotency_keys', ['created_at'], unique=False)
    op.create_table('access_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=True),
    sa.Column('door', sa.String(length=40), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=True),
    sa.Column('members_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_access_events_volunteer_id_volunteers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_events'))
    )
    op.create_index('ix_access_events_at', 'access_events', ['at'], unique=False)
    op.create_index('ix_access_events_volunteer_at', 'access_events', ['volunteer_id', 'at'], unique=False)
    op.create_table('access_event_members',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['access_events.id'], name=op.f('fk_access_event_members_event_id_access_events')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_access_event_members_member_id_members')),
    sa.PrimaryKeyConstraint('event_id', 'member_id', name=op.f('pk_access_event_members'))
    )
    op.create_index('ix_access_event_members_member', 'access_event_members', ['member_id', 'event_id'], unique=False)
    for stmt in SQLITE_GUARDS if _dialect() == "sqlite" else POSTGRESQL_GUARDS:
        op.execute(stmt)


def downgrade() -> None:
    for stmt in SQLITE_DROPS if _dialect() == "sqlite" else POSTGRESQL_DROPS:
        op.execute(stmt)
    op.drop_index('ix_access_event_members_member', table_name='access_event_members')
    op.drop_table('access_event_members')
    op.drop_index('ix_access_events_volunteer_at', table_name='access_events')
    op.drop_index('ix_access_events_at', table_name='access_events')
    op.drop_table('access_events')
    op.drop_index('ix_idempotency_keys_created_at', table_name='idempotency_keys')
    op.drop_table('idempotency_keys')
    op.drop_table('run_tickets')
    _tickets(old=True)
