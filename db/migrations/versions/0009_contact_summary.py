"""the contact summary: each member's two newest quarters with a contact and a delivery

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

The scorecard (issue 13) asks of every member living away whether a successful contact
was recorded in the quarter, and of every homebound member whether a delivery was: at a
million members that was a look-up of each member's tasks and of each task's attempts
(four index probes a member), about half of the scorecard's time on SQLite. The database
now keeps the answer on the member, as it keeps the guards' history:

* four columns on ``members``: ``contact_quarter`` and ``contact_quarter_before`` — the
  newest and second newest quarter (year × 4 + quarter − 1) with a successful contact on a
  task of the member's own — and ``delivery_quarter``, ``delivery_quarter_before`` — the
  same for a completed delivery; NULL: none;
* triggers on ``attempts`` keep them (an insert moves them along; a change of an
  attempt's task, outcome or day, or a delete, works the member's out again): row
  triggers on both databases (on PostgreSQL a statement trigger's one UPDATE of many
  members met the member guard's kept plan, a nested loop: see `db.guards`);
* the columns are filled from the attempts already recorded (one set-based UPDATE).

Frozen like the others: the triggers' DDL (what `db.guards.summary_statements` gave when
this revision was made), the kinds and outcomes counted and the backfill are literals; no
import of live code. ``members`` only gets ADD COLUMNs.
"""
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


COLUMNS = ("contact_quarter", "contact_quarter_before", "delivery_quarter",
           "delivery_quarter_before")
_CONTACT = ("(t.kind IN ('care_visit', 'delivery', 'make_up', 'notice', 'phone_visit', "
            "'survey') AND a.outcome IN ('delivered', 'delivered_to_family', "
            "'gift_delivered', 'help_arranged', 'reached', 'visited'))")
_DELIVERY = "(t.kind = 'delivery' AND a.outcome IN ('delivered', 'delivered_to_family'))"
_KEY = {
    "sqlite": ("(CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 "
               "+ (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3)"),
    "postgresql": ("(CAST(extract(year FROM a.recorded_on) AS integer) * 4 "
                   "+ (CAST(extract(month FROM a.recorded_on) AS integer) - 1) / 3)"),
}


def backfill(dialect: str) -> str:
    """Every member's summary from the attempts recorded so far, in one UPDATE: the
    distinct quarters of each member's qualifying attempts ranked newest first, per kind of
    summary, and the first two kept (no join of two derived sets: PostgreSQL would have no
    statistics for them)."""
    return f"""
    UPDATE members SET contact_quarter = s.top0, contact_quarter_before = s.before0,
      delivery_quarter = s.top1, delivery_quarter_before = s.before1
    FROM (SELECT member_id,
            max(CASE WHEN f0 = 1 AND r0 = 1 THEN q END) AS top0,
            max(CASE WHEN f0 = 1 AND r0 = 2 THEN q END) AS before0,
            max(CASE WHEN f1 = 1 AND r1 = 1 THEN q END) AS top1,
            max(CASE WHEN f1 = 1 AND r1 = 2 THEN q END) AS before1
          FROM (SELECT g.*,
                  dense_rank() OVER (PARTITION BY member_id, f0 ORDER BY q DESC) AS r0,
                  dense_rank() OVER (PARTITION BY member_id, f1 ORDER BY q DESC) AS r1
                FROM (SELECT t.member_id, {_KEY[dialect]} AS q,
                        CASE WHEN {_CONTACT} THEN 1 ELSE 0 END AS f0,
                        CASE WHEN {_DELIVERY} THEN 1 ELSE 0 END AS f1
                      FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id
                      WHERE {_CONTACT} OR {_DELIVERY}) g) r
          GROUP BY member_id) s
    WHERE members.id = s.member_id"""


SQLITE_GUARDS = [
    """CREATE TRIGGER attempts_summary_insert AFTER INSERT ON attempts
        WHEN (NEW.outcome = 'delivered' OR NEW.outcome = 'delivered_to_family' OR NEW.outcome = 'gift_delivered' OR NEW.outcome = 'help_arranged' OR NEW.outcome = 'reached' OR NEW.outcome = 'visited')
        BEGIN
          UPDATE members SET
            contact_quarter_before = CASE WHEN contact_quarter IS NULL THEN NULL WHEN (CAST(substr(NEW.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(NEW.recorded_on, 6, 2) AS INTEGER) - 1) / 3) > contact_quarter THEN contact_quarter
              WHEN (CAST(substr(NEW.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(NEW.recorded_on, 6, 2) AS INTEGER) - 1) / 3) = contact_quarter OR contact_quarter_before >= (CAST(substr(NEW.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(NEW.recorded_on, 6, 2) AS INTEGER) - 1) / 3) THEN contact_quarter_before ELSE (CAST(substr(NEW.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(NEW.recorded_on, 6, 2) AS INTEGER) - 1) / 3) END,
            contact_quarter = CASE WHEN contact_quarter IS NULL OR (CAST(substr(NEW.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(NEW.recorded_on, 6, 2) AS INTEGER) - 1) / 3) > contact_quarter THEN (CAST(substr(NEW.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(NEW.recorded_on, 6, 2) AS INTEGER) - 1) / 3) ELSE contact_quarter END
            WHERE (NEW.outcome = 'delivered' OR NEW.outcome = 'delivered_to_family' OR NEW.outcome = 'gift_delivered' OR NEW.outcome = 'help_arranged' OR NEW.outcome = 'reached' OR NEW.outcome = 'visited') AND id = (SELECT member_id FROM outreach_tasks
              WHERE id = NEW.task_id AND (kind = 'care_visit' OR kind = 'delivery' OR kind = 'make_up' OR kind = 'notice' OR kind = 'phone_visit' OR kind = 'survey'));
          UPDATE members SET
            delivery_quarter_before = CASE WHEN delivery_quarter IS NULL THEN NULL WHEN (CAST(substr(NEW.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(NEW.recorded_on, 6, 2) AS INTEGER) - 1) / 3) > delivery_quarter THEN delivery_quarter
              WHEN (CAST(substr(NEW.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(NEW.recorded_on, 6, 2) AS INTEGER) - 1) / 3) = delivery_quarter OR delivery_quarter_before >= (CAST(substr(NEW.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(NEW.recorded_on, 6, 2) AS INTEGER) - 1) / 3) THEN delivery_quarter_before ELSE (CAST(substr(NEW.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(NEW.recorded_on, 6, 2) AS INTEGER) - 1) / 3) END,
            delivery_quarter = CASE WHEN delivery_quarter IS NULL OR (CAST(substr(NEW.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(NEW.recorded_on, 6, 2) AS INTEGER) - 1) / 3) > delivery_quarter THEN (CAST(substr(NEW.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(NEW.recorded_on, 6, 2) AS INTEGER) - 1) / 3) ELSE delivery_quarter END
            WHERE (NEW.outcome = 'delivered' OR NEW.outcome = 'delivered_to_family') AND id = (SELECT member_id FROM outreach_tasks
              WHERE id = NEW.task_id AND (kind = 'delivery'));
        END""",
    """CREATE TRIGGER attempts_summary_update AFTER UPDATE OF task_id, outcome, recorded_on ON attempts
        BEGIN
          UPDATE members SET contact_quarter = (SELECT max((CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3)) FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id WHERE t.member_id = members.id AND (t.kind = 'care_visit' OR t.kind = 'delivery' OR t.kind = 'make_up' OR t.kind = 'notice' OR t.kind = 'phone_visit' OR t.kind = 'survey') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family' OR a.outcome = 'gift_delivered' OR a.outcome = 'help_arranged' OR a.outcome = 'reached' OR a.outcome = 'visited')), contact_quarter_before = (SELECT max((CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3)) FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id WHERE t.member_id = members.id AND (t.kind = 'care_visit' OR t.kind = 'delivery' OR t.kind = 'make_up' OR t.kind = 'notice' OR t.kind = 'phone_visit' OR t.kind = 'survey') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family' OR a.outcome = 'gift_delivered' OR a.outcome = 'help_arranged' OR a.outcome = 'reached' OR a.outcome = 'visited') AND (CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3) < (SELECT max((CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3)) FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id WHERE t.member_id = members.id AND (t.kind = 'care_visit' OR t.kind = 'delivery' OR t.kind = 'make_up' OR t.kind = 'notice' OR t.kind = 'phone_visit' OR t.kind = 'survey') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family' OR a.outcome = 'gift_delivered' OR a.outcome = 'help_arranged' OR a.outcome = 'reached' OR a.outcome = 'visited'))), delivery_quarter = (SELECT max((CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3)) FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id WHERE t.member_id = members.id AND (t.kind = 'delivery') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family')), delivery_quarter_before = (SELECT max((CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3)) FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id WHERE t.member_id = members.id AND (t.kind = 'delivery') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family') AND (CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3) < (SELECT max((CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3)) FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id WHERE t.member_id = members.id AND (t.kind = 'delivery') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family'))) WHERE id = (SELECT member_id FROM outreach_tasks WHERE id = OLD.task_id);
          UPDATE members SET contact_quarter = (SELECT max((CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3)) FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id WHERE t.member_id = members.id AND (t.kind = 'care_visit' OR t.kind = 'delivery' OR t.kind = 'make_up' OR t.kind = 'notice' OR t.kind = 'phone_visit' OR t.kind = 'survey') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family' OR a.outcome = 'gift_delivered' OR a.outcome = 'help_arranged' OR a.outcome = 'reached' OR a.outcome = 'visited')), contact_quarter_before = (SELECT max((CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3)) FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id WHERE t.member_id = members.id AND (t.kind = 'care_visit' OR t.kind = 'delivery' OR t.kind = 'make_up' OR t.kind = 'notice' OR t.kind = 'phone_visit' OR t.kind = 'survey') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family' OR a.outcome = 'gift_delivered' OR a.outcome = 'help_arranged' OR a.outcome = 'reached' OR a.outcome = 'visited') AND (CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3) < (SELECT max((CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3)) FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id WHERE t.member_id = members.id AND (t.kind = 'care_visit' OR t.kind = 'delivery' OR t.kind = 'make_up' OR t.kind = 'notice' OR t.kind = 'phone_visit' OR t.kind = 'survey') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family' OR a.outcome = 'gift_delivered' OR a.outcome = 'help_arranged' OR a.outcome = 'reached' OR a.outcome = 'visited'))), delivery_quarter = (SELECT max((CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3)) FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id WHERE t.member_id = members.id AND (t.kind = 'delivery') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family')), delivery_quarter_before = (SELECT max((CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3)) FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id WHERE t.member_id = members.id AND (t.kind = 'delivery') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family') AND (CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3) < (SELECT max((CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3)) FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id WHERE t.member_id = members.id AND (t.kind = 'delivery') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family'))) WHERE id = (SELECT member_id FROM outreach_tasks WHERE id = NEW.task_id);
        END""",
    """CREATE TRIGGER attempts_summary_delete AFTER DELETE ON attempts
        BEGIN
          UPDATE members SET contact_quarter = (SELECT max((CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3)) FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id WHERE t.member_id = members.id AND (t.kind = 'care_visit' OR t.kind = 'delivery' OR t.kind = 'make_up' OR t.kind = 'notice' OR t.kind = 'phone_visit' OR t.kind = 'survey') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family' OR a.outcome = 'gift_delivered' OR a.outcome = 'help_arranged' OR a.outcome = 'reached' OR a.outcome = 'visited')), contact_quarter_before = (SELECT max((CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3)) FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id WHERE t.member_id = members.id AND (t.kind = 'care_visit' OR t.kind = 'delivery' OR t.kind = 'make_up' OR t.kind = 'notice' OR t.kind = 'phone_visit' OR t.kind = 'survey') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family' OR a.outcome = 'gift_delivered' OR a.outcome = 'help_arranged' OR a.outcome = 'reached' OR a.outcome = 'visited') AND (CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3) < (SELECT max((CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3)) FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id WHERE t.member_id = members.id AND (t.kind = 'care_visit' OR t.kind = 'delivery' OR t.kind = 'make_up' OR t.kind = 'notice' OR t.kind = 'phone_visit' OR t.kind = 'survey') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family' OR a.outcome = 'gift_delivered' OR a.outcome = 'help_arranged' OR a.outcome = 'reached' OR a.outcome = 'visited'))), delivery_quarter = (SELECT max((CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3)) FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id WHERE t.member_id = members.id AND (t.kind = 'delivery') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family')), delivery_quarter_before = (SELECT max((CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3)) FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id WHERE t.member_id = members.id AND (t.kind = 'delivery') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family') AND (CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3) < (SELECT max((CAST(substr(a.recorded_on, 1, 4) AS INTEGER) * 4 + (CAST(substr(a.recorded_on, 6, 2) AS INTEGER) - 1) / 3)) FROM outreach_tasks t JOIN attempts a ON a.task_id = t.id WHERE t.member_id = members.id AND (t.kind = 'delivery') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family'))) WHERE id = (SELECT member_id FROM outreach_tasks WHERE id = OLD.task_id);
        END""",
]

SQLITE_DROPS = [
    'DROP TRIGGER IF EXISTS attempts_summary_insert',
    'DROP TRIGGER IF EXISTS attempts_summary_update',
    'DROP TRIGGER IF EXISTS attempts_summary_delete',
]

POSTGRESQL_GUARDS = [
    """CREATE FUNCTION attempts_summary_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF (NEW.outcome = 'delivered' OR NEW.outcome = 'delivered_to_family' OR NEW.outcome = 'gift_delivered' OR NEW.outcome = 'help_arranged' OR NEW.outcome = 'reached' OR NEW.outcome = 'visited') THEN
          UPDATE members SET
            contact_quarter_before = CASE WHEN contact_quarter IS NULL THEN NULL WHEN (CAST(extract(year FROM NEW.recorded_on) AS integer) * 4 + (CAST(extract(month FROM NEW.recorded_on) AS integer) - 1) / 3) > contact_quarter THEN contact_quarter
              WHEN (CAST(extract(year FROM NEW.recorded_on) AS integer) * 4 + (CAST(extract(month FROM NEW.recorded_on) AS integer) - 1) / 3) = contact_quarter OR contact_quarter_before >= (CAST(extract(year FROM NEW.recorded_on) AS integer) * 4 + (CAST(extract(month FROM NEW.recorded_on) AS integer) - 1) / 3) THEN contact_quarter_before ELSE (CAST(extract(year FROM NEW.recorded_on) AS integer) * 4 + (CAST(extract(month FROM NEW.recorded_on) AS integer) - 1) / 3) END,
            contact_quarter = CASE WHEN contact_quarter IS NULL OR (CAST(extract(year FROM NEW.recorded_on) AS integer) * 4 + (CAST(extract(month FROM NEW.recorded_on) AS integer) - 1) / 3) > contact_quarter THEN (CAST(extract(year FROM NEW.recorded_on) AS integer) * 4 + (CAST(extract(month FROM NEW.recorded_on) AS integer) - 1) / 3) ELSE contact_quarter END
            WHERE (NEW.outcome = 'delivered' OR NEW.outcome = 'delivered_to_family' OR NEW.outcome = 'gift_delivered' OR NEW.outcome = 'help_arranged' OR NEW.outcome = 'reached' OR NEW.outcome = 'visited') AND id = (SELECT member_id FROM outreach_tasks
              WHERE id = NEW.task_id AND (kind = 'care_visit' OR kind = 'delivery' OR kind = 'make_up' OR kind = 'notice' OR kind = 'phone_visit' OR kind = 'survey'));
          UPDATE members SET
            delivery_quarter_before = CASE WHEN delivery_quarter IS NULL THEN NULL WHEN (CAST(extract(year FROM NEW.recorded_on) AS integer) * 4 + (CAST(extract(month FROM NEW.recorded_on) AS integer) - 1) / 3) > delivery_quarter THEN delivery_quarter
              WHEN (CAST(extract(year FROM NEW.recorded_on) AS integer) * 4 + (CAST(extract(month FROM NEW.recorded_on) AS integer) - 1) / 3) = delivery_quarter OR delivery_quarter_before >= (CAST(extract(year FROM NEW.recorded_on) AS integer) * 4 + (CAST(extract(month FROM NEW.recorded_on) AS integer) - 1) / 3) THEN delivery_quarter_before ELSE (CAST(extract(year FROM NEW.recorded_on) AS integer) * 4 + (CAST(extract(month FROM NEW.recorded_on) AS integer) - 1) / 3) END,
            delivery_quarter = CASE WHEN delivery_quarter IS NULL OR (CAST(extract(year FROM NEW.recorded_on) AS integer) * 4 + (CAST(extract(month FROM NEW.recorded_on) AS integer) - 1) / 3) > delivery_quarter THEN (CAST(extract(year FROM NEW.recorded_on) AS integer) * 4 + (CAST(extract(month FROM NEW.recorded_on) AS integer) - 1) / 3) ELSE delivery_quarter END
            WHERE (NEW.outcome = 'delivered' OR NEW.outcome = 'delivered_to_family') AND id = (SELECT member_id FROM outreach_tasks
              WHERE id = NEW.task_id AND (kind = 'delivery'));
          END IF;
          RETURN NULL;
        END $$""",
    """CREATE TRIGGER attempts_summary_after_insert AFTER INSERT ON attempts
        FOR EACH ROW EXECUTE FUNCTION attempts_summary_after_insert()""",
    """CREATE FUNCTION attempts_summary_after_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          UPDATE members m SET contact_quarter = s.top0, contact_quarter_before = s.before0, delivery_quarter = s.top1, delivery_quarter_before = s.before1
          FROM (SELECT member_id, max(q) FILTER (WHERE f0 AND r0 = 1) AS top0, max(q) FILTER (WHERE f0 AND r0 = 2) AS before0, max(q) FILTER (WHERE f1 AND r1 = 1) AS top1, max(q) FILTER (WHERE f1 AND r1 = 2) AS before1
                FROM (SELECT g.*, dense_rank() OVER (PARTITION BY member_id, f0 ORDER BY q DESC NULLS LAST) AS r0, dense_rank() OVER (PARTITION BY member_id, f1 ORDER BY q DESC NULLS LAST) AS r1
                      FROM (SELECT t.member_id, (CAST(extract(year FROM a.recorded_on) AS integer) * 4 + (CAST(extract(month FROM a.recorded_on) AS integer) - 1) / 3) AS q, ((t.kind = 'care_visit' OR t.kind = 'delivery' OR t.kind = 'make_up' OR t.kind = 'notice' OR t.kind = 'phone_visit' OR t.kind = 'survey') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family' OR a.outcome = 'gift_delivered' OR a.outcome = 'help_arranged' OR a.outcome = 'reached' OR a.outcome = 'visited')) AS f0, ((t.kind = 'delivery') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family')) AS f1
                            FROM outreach_tasks t LEFT JOIN attempts a
                              ON a.task_id = t.id AND (((t.kind = 'care_visit' OR t.kind = 'delivery' OR t.kind = 'make_up' OR t.kind = 'notice' OR t.kind = 'phone_visit' OR t.kind = 'survey') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family' OR a.outcome = 'gift_delivered' OR a.outcome = 'help_arranged' OR a.outcome = 'reached' OR a.outcome = 'visited')) OR ((t.kind = 'delivery') AND (a.outcome = 'delivered' OR a.outcome = 'delivered_to_family')))
                            WHERE t.member_id IN (SELECT x.member_id FROM outreach_tasks x
                              WHERE x.id IN (OLD.task_id, NEW.task_id))) g) r
                GROUP BY member_id) s
          WHERE m.id = s.member_id AND (m.contact_quarter IS DISTINCT FROM s.top0 OR m.contact_quarter_before IS DISTINCT FROM s.before0 OR m.delivery_quarter IS DISTINCT FROM s.top1 OR m.delivery_quarter_before IS DISTINCT FROM s.before1);
          RETURN NULL;
        END $$""",
    """CREATE TRIGGER attempts_summary_after_change AFTER UPDATE OF task_id, outcome, recorded_on OR DELETE ON attempts
        FOR EACH ROW EXECUTE FUNCTION attempts_summary_after_change()""",
]

POSTGRESQL_DROPS = [
    'DROP TRIGGER IF EXISTS attempts_summary_after_insert ON attempts',
    'DROP FUNCTION IF EXISTS attempts_summary_after_insert()',
    'DROP TRIGGER IF EXISTS attempts_summary_after_change ON attempts',
    'DROP FUNCTION IF EXISTS attempts_summary_after_change()',
]

def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for col in COLUMNS:
        op.execute(f"ALTER TABLE members ADD COLUMN {col} INTEGER")
    op.execute(backfill(dialect))
    for stmt in SQLITE_GUARDS if dialect == "sqlite" else POSTGRESQL_GUARDS:
        op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for stmt in SQLITE_DROPS if dialect == "sqlite" else POSTGRESQL_DROPS:
        op.execute(stmt)
    for col in reversed(COLUMNS):
        op.execute(f"ALTER TABLE members DROP COLUMN {col}")
