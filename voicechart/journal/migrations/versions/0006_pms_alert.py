"""pms alerts: what a person must sort out in the PMS that no single edit stands for

Open Dental saves a second exam when the chart a user has open was changed meanwhile (DateTMeasureEdit,
OPENDENTAL.md §3.6): the outbox notices the exam that appeared beside voicechart's and records it here.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pms_alert",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pms_url", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("exam_num", sa.Integer(), nullable=False),
        sa.Column("other_num", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=100), nullable=False),
        sa.UniqueConstraint("kind", "exam_num", "other_num", name="uq_pms_alert"),
    )


def downgrade() -> None:
    op.drop_table("pms_alert")
