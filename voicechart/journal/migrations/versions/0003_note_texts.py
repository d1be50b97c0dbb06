"""pms_note: raw text, lexicon corrections, dictating provider

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pms_note") as batch_op:
        batch_op.add_column(sa.Column("raw_text", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("corrections", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("dictated_by", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("pms_note") as batch_op:
        batch_op.drop_column("dictated_by")
        batch_op.drop_column("corrections")
        batch_op.drop_column("raw_text")
