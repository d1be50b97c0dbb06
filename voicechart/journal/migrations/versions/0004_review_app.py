"""review app: users, web sessions, review actions; edit origin, note supersedes, session provider;
audit hash chain columns

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("prov_num", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uq_app_user_name"),
    )
    op.create_table(
        "web_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash", name="uq_web_session_token_hash"),
    )
    op.create_table(
        "review_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("utterance_id", sa.Integer(), nullable=True),
        sa.Column("edit_id", sa.Integer(), nullable=True),
        sa.Column("note_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["exam_session.id"]),
        sa.ForeignKeyConstraint(["utterance_id"], ["utterance.id"]),
        sa.ForeignKeyConstraint(["edit_id"], ["chart_edit.id"]),
        sa.ForeignKeyConstraint(["note_id"], ["pms_note.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_review_action_utterance_id", "review_action", ["utterance_id"])
    op.create_index("ix_review_action_edit_id", "review_action", ["edit_id"])
    with op.batch_alter_table("chart_edit") as batch_op:
        batch_op.add_column(
            sa.Column("origin", sa.String(length=120), nullable=False, server_default="dictation")
        )
    with op.batch_alter_table("pms_note") as batch_op:
        batch_op.add_column(sa.Column("supersedes", sa.Integer(), nullable=True))
    with op.batch_alter_table("exam_session") as batch_op:
        batch_op.add_column(sa.Column("prov_num", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("audit_event") as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("audit_event") as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
    with op.batch_alter_table("exam_session") as batch_op:
        batch_op.drop_column("prov_num")
    with op.batch_alter_table("pms_note") as batch_op:
        batch_op.drop_column("supersedes")
    with op.batch_alter_table("chart_edit") as batch_op:
        batch_op.drop_column("origin")
    op.drop_index("ix_review_action_edit_id", table_name="review_action")
    op.drop_index("ix_review_action_utterance_id", table_name="review_action")
    op.drop_table("review_action")
    op.drop_table("web_session")
    op.drop_table("app_user")
