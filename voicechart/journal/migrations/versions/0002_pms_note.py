"""pms_note: exam and clinical notes in the outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pms_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("utterance_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("pat_num", sa.Integer(), nullable=False),
        sa.Column("exam_num", sa.Integer(), nullable=True),
        sa.Column("note_date", sa.Date(), nullable=True),
        sa.Column("prov_num", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("pms_status", sa.String(length=20), nullable=False),
        sa.Column("pms_error", sa.Text(), nullable=False),
        sa.Column("pms_ref", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pms_committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["exam_session.id"]),
        sa.ForeignKeyConstraint(["utterance_id"], ["utterance.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pms_note_pms_status", "pms_note", ["pms_status"])
    op.create_index(op.f("ix_pms_note_session_id"), "pms_note", ["session_id"])
    # chart edits that failed an attempt are simply pending (retried); "rejected" is new
    op.execute("UPDATE chart_edit SET pms_status = 'pending' WHERE pms_status = 'failed'")


def downgrade() -> None:
    op.drop_index(op.f("ix_pms_note_session_id"), table_name="pms_note")
    op.drop_index("ix_pms_note_pms_status", table_name="pms_note")
    op.drop_table("pms_note")
