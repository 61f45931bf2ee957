"""the audit trail as hash chains (one per instance, one global), existing events chained; audit rows append-only

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

After this migration the database refuses UPDATE and DELETE of audit rows (triggers, on SQLite and PostgreSQL, and
TRUNCATE on PostgreSQL): a later migration that must touch them drops the trigger for its own transaction.
"""
from alembic import op
import sqlalchemy as sa

from engine.store.audit import GLOBAL, HASHED, chain
from engine.store.models import UtcDateTime


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

BATCH = 2000
REFUSED = "audit events are append-only: % of audit_event refused"
PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{REFUSED}', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$
"""


def upgrade() -> None:
    op.add_column('audit_event', sa.Column('seq', sa.Integer(), nullable=True))
    op.add_column('audit_event', sa.Column('prev_hash', sa.String(length=64), nullable=True))
    op.add_column('audit_event', sa.Column('hash', sa.String(length=64), nullable=True))
    op.create_index('ux_audit_instance_seq', 'audit_event', ['instance_id', 'seq'], unique=True)
    op.add_column('instance', sa.Column('audit_seq', sa.Integer(), server_default='0', nullable=False))
    op.add_column('instance', sa.Column('audit_head', sa.String(length=64), server_default='', nullable=False))
    op.create_table('audit_head',
    sa.Column('stream', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('stream')
    )
    heads = _chain_existing(op.get_bind())
    seq, last = heads.pop(None, (0, ""))
    op.bulk_insert(sa.table('audit_head', sa.column('stream'), sa.column('seq'), sa.column('hash')),
                   [{"stream": GLOBAL, "seq": seq, "hash": last}])
    instance = sa.table('instance', sa.column('id', sa.Integer()), sa.column('audit_seq', sa.Integer()),
                        sa.column('audit_head', sa.String()))
    if heads:
        op.get_bind().execute(instance.update().where(instance.c.id == sa.bindparam('iid'))
                              .values(audit_seq=sa.bindparam('s'), audit_head=sa.bindparam('h')),
                              [{"iid": i, "s": s, "h": h} for i, (s, h) in heads.items()])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute("CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
                   "FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change()")
        op.execute("CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change()")
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_event_no_{operation.lower()} BEFORE {operation} ON audit_event "
                       f"BEGIN SELECT RAISE(ABORT, '{REFUSED.replace('%', operation)}'); END")


def _chain_existing(connection) -> dict:
    """Chain the events already written, per instance and globally, in the order they were written; the heads."""
    events = sa.table('audit_event', sa.column('id', sa.Integer()), sa.column('at', UtcDateTime()),
                      *(sa.column(name, sa.JSON() if name == 'details' else sa.String())
                        for name in HASHED if name != 'at'),
                      sa.column('seq', sa.Integer()), sa.column('prev_hash', sa.String()),
                      sa.column('hash', sa.String()))
    heads: dict = {}
    after = 0
    while True:  # in batches, oldest first, so a long trail never sits in memory whole
        rows = [dict(r) for r in connection.execute(sa.select(*(events.c[n] for n in ('id', *HASHED)))
                                                    .where(events.c.id > after).order_by(events.c.id)
                                                    .limit(BATCH)).mappings()]
        if not rows:
            return heads
        for row in rows:
            row["instance_id"] = int(row["instance_id"]) if row["instance_id"] is not None else None
            heads[row["instance_id"]] = chain([row], *heads.get(row["instance_id"], (0, "")))
        connection.execute(events.update().where(events.c.id == sa.bindparam('eid'))
                           .values(seq=sa.bindparam('s'), prev_hash=sa.bindparam('p'), hash=sa.bindparam('h')),
                           [{"eid": r["id"], "s": r["seq"], "p": r["prev_hash"], "h": r["hash"]} for r in rows])
        after = rows[-1]["id"]


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
        op.execute("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_refuse_change()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
    op.drop_table('audit_head')
    op.drop_column('instance', 'audit_head')  # SQLite 3.35+ drops a column in place (no table copy, no FK trouble)
    op.drop_column('instance', 'audit_seq')
    op.drop_index('ux_audit_instance_seq', table_name='audit_event')
    op.drop_column('audit_event', 'hash')
    op.drop_column('audit_event', 'prev_hash')
    op.drop_column('audit_event', 'seq')
