"""outbox claims: which outbox is writing an edit or a note, since when

Several outboxes drain one journal (one per operatory in a station, the review app's, a `listen` in another
process). Without a claim, two of them could write the same row at once: two POSTs, a duplicate row.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 19:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("chart_edit", "pms_note"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("claim", sa.String(length=32), nullable=False, server_default=""))
            batch_op.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in ("pms_note", "chart_edit"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("claimed_at")
            batch_op.drop_column("claim")
