"""the members as the scorecard reads them, in an index by id

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

The scorecard (issue 13) reads the members in two halves by id, with their branch, status,
residence, homebound, the address's date and the contact summary of 0009. No index held
those by id, so each half read the rows (hundreds of bytes each: names, addresses,
phones): on PostgreSQL each half scanned the whole table. ``ix_members_scorecard`` holds
them in id order: each half is a range of it, read from the index alone (1M members: the
scorecard 2.76 s against 3.08 s, medians of 9 alternating). PostgreSQL only: SQLite
reads a half as a range of the table by rowid already, and was no faster from the index
(measured).

What it costs a write: its columns change when a member's status, branch, residence or
address date changes (already columns of ``ix_members_coverage``: those updates were never
HOT on PostgreSQL; they now write one index entry more) and when 0009's trigger writes the
contact summary, once per member and quarter with a contact or a delivery (that update was
HOT and no longer is). Index only: no data changes. Frozen: the column list is a literal.
"""
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

COLUMNS = ["id", "branch_id", "status", "residence", "homebound", "address_verified_on",
           "contact_quarter", "contact_quarter_before", "delivery_quarter",
           "delivery_quarter_before"]


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _postgres():
        op.create_index("ix_members_scorecard", "members", COLUMNS, unique=False)


def downgrade() -> None:
    if _postgres():
        op.drop_index("ix_members_scorecard", table_name="members")
