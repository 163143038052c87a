"""Issue 15: the lifecycle mirror's queue, markers and lease, and the triggers that fill the queue.

Every event appended to a hazard's chain or to a task part's record chain (`assignment:<id>`), and
every notification about either that is sent or given up, adds a `mirror_queue` row in the same
transaction. Triggers, so that every writer (the transition path, the sweep's batched writer, the
document engine, a publish that assigns a thousand parts at once) is covered without knowing it.
On PostgreSQL they are statement triggers over the transition tables: a batched insert costs one
INSERT … SELECT, not one per row. A notification about a whole plan (its publishing, one per
unit) names no part and queues nothing. The items that exist already are queued once, so an upgraded
database shows its history in Prefect without a resync.

Revision ID: 0016
Revises: 0015
"""

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

TASK_NOTIFY = "('notify.task_unit', 'notify.task_office')"  # services.outbox.kinds.TASK_NOTIFY

POSTGRESQL = [
    """CREATE FUNCTION mirror_enqueue_audit_events() RETURNS trigger AS $$
    BEGIN
        INSERT INTO mirror_queue (item) SELECT DISTINCT 'hazard:' || hazard_id FROM new_rows;
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_events_mirror AFTER INSERT ON audit_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mirror_enqueue_audit_events()""",
    """CREATE FUNCTION mirror_enqueue_record_events() RETURNS trigger AS $$
    BEGIN
        INSERT INTO mirror_queue (item) SELECT DISTINCT subject FROM new_rows WHERE subject LIKE 'assignment:%';
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER record_events_mirror AFTER INSERT ON record_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mirror_enqueue_record_events()""",
    f"""CREATE FUNCTION mirror_enqueue_deliveries() RETURNS trigger AS $$
    BEGIN
        INSERT INTO mirror_queue (item)
        SELECT DISTINCT CASE WHEN n.hazard_id IS NOT NULL THEN 'hazard:' || n.hazard_id
                             ELSE 'assignment:' || (o.payload::json ->> 'assignment_id') END
        FROM new_rows n JOIN old_rows p ON p.id = n.id
        LEFT JOIN outbox o ON n.hazard_id IS NULL AND o.id = n.outbox_id AND o.kind IN {TASK_NOTIFY}
        WHERE n.status IN ('sent', 'dead') AND p.status IS DISTINCT FROM n.status
          AND (n.hazard_id IS NOT NULL OR (o.payload::json ->> 'assignment_id') IS NOT NULL);
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER deliveries_mirror AFTER UPDATE ON deliveries
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION mirror_enqueue_deliveries()""",
]

SQLITE = [
    """CREATE TRIGGER audit_events_mirror AFTER INSERT ON audit_events
    BEGIN INSERT INTO mirror_queue (item) VALUES ('hazard:' || NEW.hazard_id); END""",
    """CREATE TRIGGER record_events_mirror AFTER INSERT ON record_events WHEN NEW.subject LIKE 'assignment:%'
    BEGIN INSERT INTO mirror_queue (item) VALUES (NEW.subject); END""",
    f"""CREATE TRIGGER deliveries_mirror AFTER UPDATE OF status ON deliveries
    WHEN NEW.status IN ('sent', 'dead') AND OLD.status IS NOT NEW.status
    BEGIN
        INSERT INTO mirror_queue (item) SELECT 'hazard:' || NEW.hazard_id WHERE NEW.hazard_id IS NOT NULL;
        INSERT INTO mirror_queue (item)
        SELECT 'assignment:' || json_extract(o.payload, '$.assignment_id') FROM outbox o
        WHERE NEW.hazard_id IS NULL AND o.id = NEW.outbox_id AND o.kind IN {TASK_NOTIFY}
          AND json_extract(o.payload, '$.assignment_id') IS NOT NULL;
    END""",
]

TRIGGERS = (("audit_events", "audit_events_mirror"), ("record_events", "record_events_mirror"),
            ("deliveries", "deliveries_mirror"))


def upgrade() -> None:
    op.create_table('mirror_queue',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('item', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mirror_queue'))
    )
    op.create_table('mirror_items',
    sa.Column('item', sa.String(length=40), nullable=False),
    sa.Column('flow_run_id', sa.String(length=36), nullable=True),
    sa.Column('seq', sa.Integer(), server_default='0', nullable=False),
    sa.Column('delivery_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), server_default='0', nullable=False),
    sa.Column('state', sa.String(length=32), nullable=True),
    sa.Column('tags', sa.Text(), nullable=True),
    sa.Column('writing', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('artifact_due', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('failures', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('retry_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('item', name=op.f('pk_mirror_items'))
    )
    op.create_table('mirror_lease',
    sa.Column('name', sa.String(length=16), nullable=False),
    sa.Column('holder', sa.String(length=64), nullable=False),
    sa.Column('until', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_mirror_lease'))
    )
    for statement in POSTGRESQL if op.get_bind().dialect.name == "postgresql" else SQLITE:
        op.execute(statement)
    op.execute("INSERT INTO mirror_queue (item) SELECT 'hazard:' || id FROM hazards ORDER BY id")
    op.execute("INSERT INTO mirror_queue (item) SELECT 'assignment:' || id FROM task_assignments ORDER BY id")


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}" if postgresql else f"DROP TRIGGER IF EXISTS {trigger}")
    if postgresql:
        for table, _ in TRIGGERS:
            op.execute(f"DROP FUNCTION IF EXISTS mirror_enqueue_{table}()")
    op.drop_table('mirror_lease')
    op.drop_table('mirror_items')
    op.drop_table('mirror_queue')
