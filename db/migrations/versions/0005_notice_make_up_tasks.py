"""notice and make_up tasks, outcome visited, campaign_runs.meeting_id

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

Organisational life (issue 12), the task engine's part:

* two new task (and campaign) kinds, ``notice`` and ``make_up``, and a new outcome code
  ``visited``: the enum CHECK constraints on ``campaigns.kind``, ``outreach_tasks.kind``,
  ``outreach_tasks.outcome`` and ``attempts.outcome`` are widened;
* ``campaign_runs.meeting_id``: the meeting a run of notices or make-up studies is for
  (nullable, indexed, a foreign key into ``meetings``).

Frozen like 0001: every constraint's text is a literal here, no import of live code.

PostgreSQL drops and re-adds each named CHECK constraint. SQLite cannot alter a
constraint, and a table rebuild (Alembic's batch mode) would drop the guards' triggers on
``outreach_tasks`` and fight the foreign keys into these tables; so the CHECK text is
widened in place by SQLite's documented procedure for a change that cannot make existing
rows invalid ("Making Other Kinds Of Table Schema Changes",
https://www.sqlite.org/lang_altertable.html): ``PRAGMA writable_schema``, an UPDATE of the
table's text in ``sqlite_master``, ``PRAGMA schema_version`` + 1, all in the migration's
own transaction. Widening an ``IN (…)`` list admits every row it admitted before. The
downgrade narrows it back the same way — after refusing when any row uses a new value,
since a narrowed CHECK would not look at existing rows.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


_KINDS_0004 = "'survey', 'phone_visit', 'delivery', 'escalation'"
_KINDS_0005 = _KINDS_0004 + ", 'notice', 'make_up'"
_OUTCOMES_0004 = ("'reached', 'delivered', 'delivered_to_family', 'no_answer', 'not_home', "
                  "'left_message', 'callback_requested', 'wrong_number', 'moved', 'refused', "
                  "'do_not_contact', 'deceased', 'inaccessible', 'temporarily_away'")
_OUTCOMES_0005 = _OUTCOMES_0004 + ", 'visited'"

#: (table, constraint, column, values before, values after) of every widened CHECK.
CHECKS = [
    ("campaigns", "ck_campaigns_campaign_kind", "kind", _KINDS_0004, _KINDS_0005),
    ("outreach_tasks", "ck_outreach_tasks_task_kind", "kind", _KINDS_0004, _KINDS_0005),
    ("outreach_tasks", "ck_outreach_tasks_task_outcome", "outcome", _OUTCOMES_0004,
     _OUTCOMES_0005),
    ("attempts", "ck_attempts_attempt_outcome", "outcome", _OUTCOMES_0004, _OUTCOMES_0005),
]

#: What rows using the new values look like (the downgrade refuses while any exist).
NEW_VALUES = {
    ("campaigns", "kind"): ("notice", "make_up"),
    ("outreach_tasks", "kind"): ("notice", "make_up"),
    ("outreach_tasks", "outcome"): ("visited",),
    ("attempts", "outcome"): ("visited",),
}

#: The same text for SQLite and PostgreSQL; names follow `db.models`' naming convention.
ADD_MEETING_ID = ("ALTER TABLE campaign_runs ADD COLUMN meeting_id INTEGER "
                  "CONSTRAINT fk_campaign_runs_meeting_id_meetings REFERENCES meetings (id)")
ADD_MEETING_INDEX = "CREATE INDEX ix_campaign_runs_meeting_id ON campaign_runs (meeting_id)"
DROP_MEETING_INDEX = "DROP INDEX ix_campaign_runs_meeting_id"
DROP_MEETING_ID = "ALTER TABLE campaign_runs DROP COLUMN meeting_id"


def _dialect() -> str:
    name = op.get_bind().dialect.name
    if name not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"outreach migrations support sqlite and postgresql, not {name}")
    return name


def _clause(column: str, values: str) -> str:
    return f"CHECK ({column} IN ({values}))"


def _sqlite_rewrite(changes: list[tuple[str, str, str]]) -> None:
    """Replace, in each table's CREATE text, ``old`` by ``new`` (exactly once each), by
    SQLite's documented procedure, then check the database's integrity."""
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
    _set_checks(widen=True)
    op.execute(ADD_MEETING_ID)
    op.execute(ADD_MEETING_INDEX)


def downgrade() -> None:
    conn = op.get_bind()
    for (table, col), values in NEW_VALUES.items():
        marks = ", ".join(f"'{v}'" for v in values)
        n = conn.exec_driver_sql(f"SELECT count(*) FROM {table} WHERE {col} IN ({marks})"
                                 ).scalar_one()
        if n:
            raise RuntimeError(f"cannot downgrade below 0005: {n} row(s) of {table} have "
                               f"{col} {' or '.join(values)}; remove them first")
    op.execute(DROP_MEETING_INDEX)
    op.execute(DROP_MEETING_ID)
    _set_checks(widen=False)
