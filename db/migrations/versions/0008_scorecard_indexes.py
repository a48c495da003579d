"""indexes the scorecard reads instead of rows

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

The scorecard (issue 13) over a million members reads, per member, what no index carried:
each lookup was a row read from a wide table. Four indexes get the column the scorecard
needs at their end (same name; every query that used their leading columns still can), and
the status history gets an index by date:

* ``ix_members_coverage`` + ``address_verified_on``: the members are read from the index
  alone (branch, residence, homebound, status, the address's date);
* ``ix_outreach_tasks_member_run`` + ``kind``: a member's tasks of the member kinds,
  without reading the tasks;
* ``ix_attempts_task_id`` + ``recorded_on``, ``outcome``: a task's successful attempts in a
  quarter, without reading the attempts;
* ``ix_attendance_meeting_status`` + ``member_id``: who was present at the quarter's
  meetings, without reading the attendance rows;
* ``ix_member_status_changes_at`` (``at``, ``member_id``), new: the changes after a day
  (a member's status on the quarter's last day) — usually none, found at once.

Indexes only: no data changes. Frozen like the others: the column lists are literals.
"""
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


#: (table, index, columns before, columns after) of every widened index.
WIDENED = [
    ("members", "ix_members_coverage",
     ["branch_id", "residence", "homebound", "status", "last_reached_on"],
     ["branch_id", "residence", "homebound", "status", "last_reached_on",
      "address_verified_on"]),
    ("outreach_tasks", "ix_outreach_tasks_member_run",
     ["member_id", "run_id", "status", "outcome"],
     ["member_id", "run_id", "status", "outcome", "kind"]),
    ("attempts", "ix_attempts_task_id", ["task_id"], ["task_id", "recorded_on", "outcome"]),
    ("attendance", "ix_attendance_meeting_status", ["meeting_id", "status"],
     ["meeting_id", "status", "member_id"]),
]
NEW = [("member_status_changes", "ix_member_status_changes_at", ["at", "member_id"])]


def upgrade() -> None:
    for table, name, _, after in WIDENED:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, after, unique=False)
    for table, name, cols in NEW:
        op.create_index(name, table, cols, unique=False)


def downgrade() -> None:
    for table, name, _ in NEW:
        op.drop_index(name, table_name=table)
    for table, name, before, _ in WIDENED:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, before, unique=False)
