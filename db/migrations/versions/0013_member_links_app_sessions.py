"""the phone: volunteers' page sessions, members' own links and what members answer

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-14

Issue 26 ("On the phone"):

* ``app_sessions``: a volunteer's session on the phone pages (``/app/``): the SHA-256 of
  the cookie's random token (never the token), who, when made and last seen (30 days idle
  end it: ``ix_app_sessions_last_seen_at``).
* ``member_links``: a member's own link (``/m/{token}``): the SHA-256 of the token (never
  the token), the member, who made it, when it expires, when it was revoked.
* ``member_link_keys``: the ``Idempotency-Key`` of each write a link made (UNIQUE link_id,
  key): a member's form sent twice is done once.
* ``attendance``: the member's own answer to a meeting notice through the link —
  ``member_answer`` (``remote`` "I will join by phone" / ``excused`` "I ask to be
  excused"), ``member_reason``, ``answered_at`` — an intention, not a mark: the status
  stays ``invited`` until the coordinator marks the meeting; and ``studied_at``, when the
  member said they studied the make-up material.
* ``branches.self_study`` (NOT NULL, false): whether the branch accepts make-up study done
  alone; the make-up method ``self_study`` (``attendance.made_up_how``) and the movement
  source ``member_link`` (``movements.source``): the two enum CHECKs widened in place as
  0006 did (SQLite: the CHECK text — an OR chain since 0007 — rewritten by SQLite's
  documented procedure, no table rebuild, so no trigger is lost; PostgreSQL: each named
  CHECK dropped and re-added). The downgrade narrows them again: a member's self-study
  becomes ``materials``; movements a member reported (append-only) stop the downgrade.

Frozen like the others: literals only, no import of live code.
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_MAKE_UP_0012 = ("visit", "phone", "materials")
_MAKE_UP_0013 = _MAKE_UP_0012 + ("self_study",)
_SOURCES_0012 = ("outcome", "survey", "import", "cli", "system")
_SOURCES_0013 = _SOURCES_0012 + ("member_link",)

#: (table, constraint, column, values before, values after) of every widened CHECK.
CHECKS = [
    ("attendance", "ck_attendance_make_up_how", "made_up_how", _MAKE_UP_0012, _MAKE_UP_0013),
    ("movements", "ck_movements_movement_source", "source", _SOURCES_0012, _SOURCES_0013),
]

#: The member's answer: its column and CHECK, per dialect.
ANSWERS = ("remote", "excused")
SQLITE_ADD_ANSWER = ("ALTER TABLE attendance ADD COLUMN member_answer VARCHAR(24) "
                     "CONSTRAINT ck_attendance_member_answer "
                     "CHECK (member_answer = 'remote' OR member_answer = 'excused')")
POSTGRESQL_ADD_ANSWER = [
    "ALTER TABLE attendance ADD COLUMN member_answer VARCHAR(24)",
    "ALTER TABLE attendance ADD CONSTRAINT ck_attendance_member_answer "
    "CHECK (member_answer IN ('remote', 'excused'))",
]
ATTENDANCE_COLUMNS = [
    "ALTER TABLE attendance ADD COLUMN member_reason TEXT",
    "ALTER TABLE attendance ADD COLUMN answered_at {timestamp}",
    "ALTER TABLE attendance ADD COLUMN studied_at {timestamp}",
]
DROP_ATTENDANCE_COLUMNS = [
    "ALTER TABLE attendance DROP COLUMN studied_at",
    "ALTER TABLE attendance DROP COLUMN answered_at",
    "ALTER TABLE attendance DROP COLUMN member_reason",
    "ALTER TABLE attendance DROP COLUMN member_answer",
]


def _dialect() -> str:
    name = op.get_bind().dialect.name
    if name not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"outreach migrations support sqlite and postgresql, not {name}")
    return name


def in_list(column: str, values: tuple) -> str:
    return f"CHECK ({column} IN ({', '.join(repr(v) for v in values)}))"


def or_chain(column: str, values: tuple) -> str:
    return "CHECK (" + " OR ".join(f"{column} = {v!r}" for v in values) + ")"


def _sqlite_rewrite(changes: list) -> None:
    """Replace, in each table's CREATE text, ``old`` by ``new`` (exactly once each), by
    SQLite's documented procedure (see 0005), then check the database's integrity."""
    conn = op.get_bind()
    texts: dict = {}
    for table, old, new in changes:
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
        raise RuntimeError("integrity check failed after changing the CHECK constraints: "
                           + "; ".join(problems[:5]))


def _set_checks(widen: bool) -> None:
    if _dialect() == "sqlite":
        _sqlite_rewrite([
            (table, or_chain(col, before if widen else after),
             or_chain(col, after if widen else before))
            for table, _name, col, before, after in CHECKS])
        return
    for table, name, col, before, after in CHECKS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} "
                   f"{in_list(col, after if widen else before)}")


def upgrade() -> None:
    dialect = _dialect()
    _set_checks(widen=True)
    if dialect == "sqlite":
        op.execute(SQLITE_ADD_ANSWER)
    else:
        for stmt in POSTGRESQL_ADD_ANSWER:
            op.execute(stmt)
    timestamp = "DATETIME" if dialect == "sqlite" else "TIMESTAMP WITHOUT TIME ZONE"
    for stmt in ATTENDANCE_COLUMNS:
        op.execute(stmt.format(timestamp=timestamp))
    op.add_column('branches', sa.Column('self_study', sa.Boolean(), server_default=sa.false(),
                                        nullable=False))
    op.create_table('app_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_app_sessions_volunteer_id_volunteers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_app_sessions_token_hash'))
    )
    op.create_index('ix_app_sessions_last_seen_at', 'app_sessions', ['last_seen_at'], unique=False)
    op.create_table('member_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['volunteers.id'], name=op.f('fk_member_links_created_by_volunteers')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_member_links_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_member_links_token_hash'))
    )
    op.create_index('ix_member_links_member_id', 'member_links', ['member_id'], unique=False)
    op.create_table('member_link_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['link_id'], ['member_links.id'], name=op.f('fk_member_link_keys_link_id_member_links')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_link_keys')),
    sa.UniqueConstraint('link_id', 'key', name=op.f('uq_member_link_keys_link_id'))
    )


def downgrade() -> None:
    conn = op.get_bind()
    reported = conn.execute(sa.text(
        "SELECT count(*) FROM movements WHERE source = 'member_link'")).scalar_one()
    if reported:
        raise RuntimeError(f"{reported} movements were reported by members through their "
                           "links; revision 0012 cannot hold them (movements are append-only)")
    op.drop_table('member_link_keys')
    op.drop_index('ix_member_links_member_id', table_name='member_links')
    op.drop_table('member_links')
    op.drop_index('ix_app_sessions_last_seen_at', table_name='app_sessions')
    op.drop_table('app_sessions')
    op.drop_column('branches', 'self_study')
    if _dialect() == "postgresql":
        op.execute("ALTER TABLE attendance DROP CONSTRAINT ck_attendance_member_answer")
    for stmt in DROP_ATTENDANCE_COLUMNS:
        op.execute(stmt)
    # a member's self-study was the material studied alone: the nearest method 0012 knows
    op.execute("UPDATE attendance SET made_up_how = 'materials' WHERE made_up_how = 'self_study'")
    _set_checks(widen=False)
