"""coordinator_since, released_by, login_failures

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

* ``volunteers.coordinator_since``: when the person last became a coordinator (the
  two-person rule for a death wants a confirmer who was one before it was recorded).
  Existing coordinators get their ``created_at``: the earliest moment known for them.
* ``outreach_tasks.released_by``: who last handed the task back (``task release``).
* ``login_failures``: wrong access codes counted per client address (``outreach serve``).

Frozen like 0001: no import of live code. The columns are added with a plain
``ALTER TABLE … ADD COLUMN`` on both databases, never with Alembic's batch mode: on SQLite
batch mode copies the table into a new one and the guards' triggers on ``outreach_tasks``
(see 0001) would be dropped with the old table. SQLite allows ADD COLUMN of a nullable
column with a REFERENCES clause and no default, and (since 3.35) DROP COLUMN of a column
that no index, trigger, view or CHECK uses; both keep the table's triggers.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

#: The same text for SQLite and PostgreSQL; the constraint name follows the naming
#: convention of `db.models` (fk_<table>_<column>_<referred table>).
ADD_RELEASED_BY = ("ALTER TABLE outreach_tasks ADD COLUMN released_by INTEGER "
                   "CONSTRAINT fk_outreach_tasks_released_by_volunteers "
                   "REFERENCES volunteers (id)")
DROP_RELEASED_BY = "ALTER TABLE outreach_tasks DROP COLUMN released_by"
ADD_COORDINATOR_SINCE = {
    "sqlite": "ALTER TABLE volunteers ADD COLUMN coordinator_since DATETIME",
    "postgresql": "ALTER TABLE volunteers ADD COLUMN coordinator_since TIMESTAMP WITHOUT TIME ZONE",
}
BACKFILL_COORDINATOR_SINCE = ("UPDATE volunteers SET coordinator_since = created_at "
                              "WHERE role = 'coordinator'")
DROP_COORDINATOR_SINCE = "ALTER TABLE volunteers DROP COLUMN coordinator_since"


def _dialect() -> str:
    name = op.get_bind().dialect.name
    if name not in ADD_COORDINATOR_SINCE:
        raise NotImplementedError(f"outreach migrations support sqlite and postgresql, not {name}")
    return name


def upgrade() -> None:
    dialect = _dialect()
    op.execute(ADD_COORDINATOR_SINCE[dialect])
    op.execute(BACKFILL_COORDINATOR_SINCE)
    op.execute(ADD_RELEASED_BY)
    op.create_table('login_failures',
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('address', name=op.f('pk_login_failures'))
    )


def downgrade() -> None:
    if _dialect() == "sqlite":
        version = op.get_bind().exec_driver_sql("SELECT sqlite_version()").scalar()
        if tuple(int(x) for x in version.split(".")[:2]) < (3, 35):
            raise NotImplementedError(
                f"downgrading below 0002 needs SQLite 3.35 or newer (ALTER TABLE DROP "
                f"COLUMN keeps the guards' triggers; batch mode would drop them); this "
                f"Python's SQLite is {version}")
    op.drop_table('login_failures')
    op.execute(DROP_RELEASED_BY)
    op.execute(DROP_COORDINATOR_SINCE)
