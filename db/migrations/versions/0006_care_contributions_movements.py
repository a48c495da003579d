"""care occasions, life events, hardship, contributions, movements; care_visit and transfer

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

Care, contributions, movements (issue 13), the data layer:

* ``care_occasions`` (a member's milestone birthday, festival, life event or month in
  hardship, with the window its care visit is due in; one per member, kind and day) with
  a state machine guarded like meetings: ``care_transition`` holds the allowed pairs,
  ``care_occasion_status_changes`` the append-only history;
* ``life_events``, ``hardships`` (one row per member, level 1–3), ``contributions``;
* ``movements``: every inflow and outflow of a member, append-only like history (its
  places are a city or region, never an address);
* ``members.away_since`` (backfilled for members living away from the newest
  ``member_changes`` row that made them away; NULL = not known) and
  ``members.transfer_considered_on`` (the transfer task is made once per stay away);
* two new task (and campaign) kinds, ``care_visit`` and ``transfer``, and two new outcome
  codes, ``gift_delivered`` and ``help_arranged``: the enum CHECKs on ``campaigns.kind``,
  ``outreach_tasks.kind``, ``outreach_tasks.outcome`` and ``attempts.outcome`` are widened
  exactly as 0005 did (SQLite: the CHECK text rewritten in place, no table rebuild, so no
  trigger is lost; PostgreSQL: each named CHECK dropped and re-added).

Frozen like 0001/0004/0005: the transition rows, the guards' DDL (what `db.guards` part
"0006" produced when this revision was made) and every CHECK's text are literals; no
import of live code. New tables are created; ``members`` only gets ADD COLUMNs.
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


_KINDS_0005 = "'survey', 'phone_visit', 'delivery', 'escalation', 'notice', 'make_up'"
_KINDS_0006 = _KINDS_0005 + ", 'care_visit', 'transfer'"
_OUTCOMES_0005 = ("'reached', 'delivered', 'delivered_to_family', 'no_answer', 'not_home', "
                  "'left_message', 'callback_requested', 'wrong_number', 'moved', 'refused', "
                  "'do_not_contact', 'deceased', 'inaccessible', 'temporarily_away', 'visited'")
_OUTCOMES_0006 = _OUTCOMES_0005 + ", 'gift_delivered', 'help_arranged'"

#: (table, constraint, column, values before, values after) of every widened CHECK.
CHECKS = [
    ("campaigns", "ck_campaigns_campaign_kind", "kind", _KINDS_0005, _KINDS_0006),
    ("outreach_tasks", "ck_outreach_tasks_task_kind", "kind", _KINDS_0005, _KINDS_0006),
    ("outreach_tasks", "ck_outreach_tasks_task_outcome", "outcome", _OUTCOMES_0005,
     _OUTCOMES_0006),
    ("attempts", "ck_attempts_attempt_outcome", "outcome", _OUTCOMES_0005, _OUTCOMES_0006),
]

#: What rows using the new values look like (the downgrade refuses while any exist).
NEW_VALUES = {
    ("campaigns", "kind"): ("care_visit", "transfer"),
    ("outreach_tasks", "kind"): ("care_visit", "transfer"),
    ("outreach_tasks", "outcome"): ("gift_delivered", "help_arranged"),
    ("attempts", "outcome"): ("gift_delivered", "help_arranged"),
}

#: The same text for SQLite and PostgreSQL.
ADD_MEMBER_COLUMNS = [
    "ALTER TABLE members ADD COLUMN away_since DATE",
    "ALTER TABLE members ADD COLUMN transfer_considered_on DATE",
]
DROP_MEMBER_COLUMNS = [
    "ALTER TABLE members DROP COLUMN transfer_considered_on",
    "ALTER TABLE members DROP COLUMN away_since",
]

#: Members living away: since the day of the newest change that made them away (a
#: ``member_changes`` row of field ``residence``); none: NULL, not known.
#: (``date()`` of a timestamp: SQLite's function, PostgreSQL's function-style cast.)
BACKFILL_AWAY_SINCE = (
    "UPDATE members SET away_since = (SELECT date(max(c.at)) FROM member_changes c "
    "WHERE c.member_id = members.id AND c.field = 'residence' AND c.new_value = 'away') "
    "WHERE residence = 'away'")

#: (from_status, to_status) of the care machine as of 0006.
CARE_TRANSITION_ROWS = [
    ('due', 'cancelled'),
    ('due', 'missed'),
    ('due', 'visited'),
    ('new', 'due'),
]

#: The guards' DDL on sqlite, in order.
SQLITE_GUARDS = [
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
    "CREATE TRIGGER care_occasion_status_changes_no_update BEFORE UPDATE ON care_occasion_status_changes BEGIN SELECT RAISE(ABORT, 'care_occasion_status_changes is append-only'); END",
    "CREATE TRIGGER care_occasion_status_changes_no_delete BEFORE DELETE ON care_occasion_status_changes BEGIN SELECT RAISE(ABORT, 'care_occasion_status_changes is append-only'); END",
    "CREATE TRIGGER movements_no_update BEFORE UPDATE ON movements BEGIN SELECT RAISE(ABORT, 'movements is append-only'); END",
    "CREATE TRIGGER movements_no_delete BEFORE DELETE ON movements BEGIN SELECT RAISE(ABORT, 'movements is append-only'); END",
]

#: What removes them on sqlite.
SQLITE_DROPS = [
    'DROP TRIGGER IF EXISTS care_occasions_guard_insert',
    'DROP TRIGGER IF EXISTS care_occasions_guard_reinsert',
    'DROP TRIGGER IF EXISTS care_occasions_history_insert',
    'DROP TRIGGER IF EXISTS care_occasions_guard_update',
    'DROP TRIGGER IF EXISTS care_occasions_history_update',
    'DROP TRIGGER IF EXISTS care_occasion_status_changes_no_update',
    'DROP TRIGGER IF EXISTS care_occasion_status_changes_no_delete',
    'DROP TRIGGER IF EXISTS movements_no_update',
    'DROP TRIGGER IF EXISTS movements_no_delete',
]

#: The guards' DDL on postgresql, in order (outreach_append_only() is 0001's).
POSTGRESQL_GUARDS = [
    """CREATE FUNCTION care_occasions_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE bad text;
        BEGIN
          SELECT n.status INTO bad FROM new_rows n WHERE NOT EXISTS
            (SELECT 1 FROM care_transition x WHERE x.from_status = 'new' AND x.to_status = n.status);
          IF FOUND THEN
            RAISE EXCEPTION 'illegal care transition: % is not an initial status', bad
              USING ERRCODE = 'check_violation';
          END IF;
          INSERT INTO care_occasion_status_changes (care_occasion_id, from_status, to_status, actor_id, reason, at)
            SELECT n.id, 'new', n.status, n.status_by, n.status_reason, (now() AT TIME ZONE 'utc') FROM new_rows n;
          RETURN NULL;
        END $$""",
    """CREATE TRIGGER care_occasions_after_insert AFTER INSERT ON care_occasions
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION care_occasions_after_insert()""",
    """CREATE FUNCTION care_occasions_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
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
    """CREATE TRIGGER care_occasions_after_update AFTER UPDATE ON care_occasions
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION care_occasions_after_update()""",
    'CREATE TRIGGER care_occasion_status_changes_append_only BEFORE UPDATE OR DELETE ON care_occasion_status_changes FOR EACH ROW EXECUTE FUNCTION outreach_append_only()',
    'CREATE TRIGGER care_occasion_status_changes_no_truncate BEFORE TRUNCATE ON care_occasion_status_changes FOR EACH STATEMENT EXECUTE FUNCTION outreach_append_only()',
    'CREATE TRIGGER movements_append_only BEFORE UPDATE OR DELETE ON movements FOR EACH ROW EXECUTE FUNCTION outreach_append_only()',
    'CREATE TRIGGER movements_no_truncate BEFORE TRUNCATE ON movements FOR EACH STATEMENT EXECUTE FUNCTION outreach_append_only()',
]

#: What removes them on postgresql.
POSTGRESQL_DROPS = [
    'DROP TRIGGER IF EXISTS care_occasions_after_insert ON care_occasions',
    'DROP FUNCTION IF EXISTS care_occasions_after_insert()',
    'DROP TRIGGER IF EXISTS care_occasions_after_update ON care_occasions',
    'DROP FUNCTION IF EXISTS care_occasions_after_update()',
    'DROP TRIGGER IF EXISTS care_occasion_status_changes_append_only ON care_occasion_status_changes',
    'DROP TRIGGER IF EXISTS care_occasion_status_changes_no_truncate ON care_occasion_status_changes',
    'DROP TRIGGER IF EXISTS movements_append_only ON movements',
    'DROP TRIGGER IF EXISTS movements_no_truncate ON movements',
]


def _dialect() -> str:
    name = op.get_bind().dialect.name
    if name not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"outreach migrations support sqlite and postgresql, not {name}")
    return name


def _clause(column: str, values: str) -> str:
    return f"CHECK ({column} IN ({values}))"


def _sqlite_rewrite(changes: list[tuple[str, str, str]]) -> None:
    """Replace, in each table's CREATE text, ``old`` by ``new`` (exactly once each), by
    SQLite's documented procedure (see 0005), then check the database's integrity."""
    conn = op.get_bind()
    texts: dict[str, str] = {}
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
    dialect = _dialect()
    if dialect == "sqlite":
        _sqlite_rewrite([
            (table, _clause(col, before if widen else after),
             _clause(col, after if widen else before))
            for table, _name, col, before, after in CHECKS])
        return
    for table, name, col, before, after in CHECKS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} "
                   f"{_clause(col, after if widen else before)}")


def upgrade() -> None:
    dialect = _dialect()
    _set_checks(widen=True)
    for stmt in ADD_MEMBER_COLUMNS:
        op.execute(stmt)
    op.execute(BACKFILL_AWAY_SINCE)

    op.create_table('care_transition',
    sa.Column('from_status', sa.String(length=24), nullable=False),
    sa.Column('to_status', sa.String(length=24), nullable=False),
    sa.PrimaryKeyConstraint('from_status', 'to_status', name=op.f('pk_care_transition'))
    )
    op.create_table('contributions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('teaching', 'volunteering', 'mediation', 'mentoring', 'other', name='contribution_kind', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('happened_on', sa.Date(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_contributions_member_id_members')),
    sa.ForeignKeyConstraint(['recorded_by'], ['volunteers.id'], name=op.f('fk_contributions_recorded_by_volunteers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contributions'))
    )
    op.create_index('ix_contributions_member_on', 'contributions', ['member_id', 'happened_on'], unique=False)
    op.create_table('hardships',
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('since', sa.Date(), nullable=False),
    sa.Column('marked_by', sa.Integer(), nullable=True),
    sa.Column('cleared_on', sa.Date(), nullable=True),
    sa.Column('cleared_by', sa.Integer(), nullable=True),
    sa.CheckConstraint('cleared_on IS NULL OR cleared_on >= since', name=op.f('ck_hardships_cleared_after_since')),
    sa.CheckConstraint('level BETWEEN 1 AND 3', name=op.f('ck_hardships_level_1_to_3')),
    sa.ForeignKeyConstraint(['cleared_by'], ['volunteers.id'], name=op.f('fk_hardships_cleared_by_volunteers')),
    sa.ForeignKeyConstraint(['marked_by'], ['volunteers.id'], name=op.f('fk_hardships_marked_by_volunteers')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_hardships_member_id_members')),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_hardships'))
    )
    op.create_table('life_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('hospitalised', 'bereaved', 'hardship', 'other', name='life_event_kind', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('happened_on', sa.Date(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_life_events_member_id_members')),
    sa.ForeignKeyConstraint(['recorded_by'], ['volunteers.id'], name=op.f('fk_life_events_recorded_by_volunteers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_life_events'))
    )
    op.create_index(op.f('ix_life_events_member_id'), 'life_events', ['member_id'], unique=False)
    op.create_table('movements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('away', 'back', 'moved_out', 'back_in', 'city', name='movement_kind', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('happened_on', sa.Date(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('from_place', sa.String(length=200), nullable=True),
    sa.Column('to_place', sa.String(length=200), nullable=True),
    sa.Column('source', sa.Enum('outcome', 'survey', 'import', 'cli', 'system', name='movement_source', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('recorded_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_movements_member_id_members')),
    sa.ForeignKeyConstraint(['recorded_by'], ['volunteers.id'], name=op.f('fk_movements_recorded_by_volunteers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_movements'))
    )
    op.create_index('ix_movements_member_on', 'movements', ['member_id', 'happened_on'], unique=False)
    op.create_table('care_occasions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('birthday', 'double_ninth', 'spring_festival', 'life_event', 'hardship', name='care_kind', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('occasion_on', sa.Date(), nullable=False),
    sa.Column('window_from', sa.Date(), nullable=False),
    sa.Column('window_to', sa.Date(), nullable=False),
    sa.Column('detail', sa.String(length=200), nullable=True),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('due', 'visited', 'missed', 'cancelled', name='care_status', native_enum=False, create_constraint=True, length=24), nullable=False),
    sa.Column('status_by', sa.Integer(), nullable=True),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('window_from <= occasion_on AND occasion_on <= window_to', name=op.f('ck_care_occasions_window_holds_the_day')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_care_occasions_member_id_members')),
    sa.ForeignKeyConstraint(['status_by'], ['volunteers.id'], name=op.f('fk_care_occasions_status_by_volunteers')),
    sa.ForeignKeyConstraint(['task_id'], ['outreach_tasks.id'], name=op.f('fk_care_occasions_task_id_outreach_tasks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_care_occasions')),
    sa.UniqueConstraint('member_id', 'kind', 'occasion_on', name=op.f('uq_care_occasions_member_id'))
    )
    op.create_index('ix_care_occasions_status_on', 'care_occasions', ['status', 'occasion_on'], unique=False)
    op.create_index(op.f('ix_care_occasions_task_id'), 'care_occasions', ['task_id'], unique=False)
    op.create_table('care_occasion_status_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('care_occasion_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=24), nullable=False),
    sa.Column('to_status', sa.String(length=24), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['volunteers.id'], name=op.f('fk_care_occasion_status_changes_actor_id_volunteers')),
    sa.ForeignKeyConstraint(['care_occasion_id'], ['care_occasions.id'], name=op.f('fk_care_occasion_status_changes_care_occasion_id_care_occasions')),
    sa.ForeignKeyConstraint(['from_status', 'to_status'], ['care_transition.from_status', 'care_transition.to_status'], name='fk_care_occasion_status_changes_pair'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_care_occasion_status_changes'))
    )
    op.create_index(op.f('ix_care_occasion_status_changes_care_occasion_id'), 'care_occasion_status_changes', ['care_occasion_id'], unique=False)

    care_t = sa.table("care_transition", sa.column("from_status"), sa.column("to_status"))
    op.bulk_insert(care_t, [{"from_status": a, "to_status": b}
                            for a, b in CARE_TRANSITION_ROWS])
    for stmt in SQLITE_GUARDS if dialect == "sqlite" else POSTGRESQL_GUARDS:
        op.execute(stmt)


def downgrade() -> None:
    dialect = _dialect()
    conn = op.get_bind()
    for (table, col), values in NEW_VALUES.items():
        marks = ", ".join(f"'{v}'" for v in values)
        n = conn.exec_driver_sql(f"SELECT count(*) FROM {table} WHERE {col} IN ({marks})"
                                 ).scalar_one()
        if n:
            raise RuntimeError(f"cannot downgrade below 0006: {n} row(s) of {table} have "
                               f"{col} {' or '.join(values)}; remove them first")
    for stmt in SQLITE_DROPS if dialect == "sqlite" else POSTGRESQL_DROPS:
        op.execute(stmt)
    op.drop_index(op.f('ix_care_occasion_status_changes_care_occasion_id'), table_name='care_occasion_status_changes')
    op.drop_table('care_occasion_status_changes')
    op.drop_index(op.f('ix_care_occasions_task_id'), table_name='care_occasions')
    op.drop_index('ix_care_occasions_status_on', table_name='care_occasions')
    op.drop_table('care_occasions')
    op.drop_index('ix_movements_member_on', table_name='movements')
    op.drop_table('movements')
    op.drop_index(op.f('ix_life_events_member_id'), table_name='life_events')
    op.drop_table('life_events')
    op.drop_table('hardships')
    op.drop_index('ix_contributions_member_on', table_name='contributions')
    op.drop_table('contributions')
    op.drop_table('care_transition')
    for stmt in DROP_MEMBER_COLUMNS:
        op.execute(stmt)
    _set_checks(widen=False)
