"""Branches, 党小组, members, invites, activities (with every kind they count as), attendance and the audit log.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 23:13:47.236401
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "branch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("theme_day_rule", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["branch.id"], name=op.f("fk_branch_parent_id_branch"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branch")),
        sa.UniqueConstraint("chat_id", name=op.f("uq_branch_chat_id")),
    )
    op.create_table(
        "party_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_party_group_branch_id_branch"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_group")),
        sa.UniqueConstraint("branch_id", "name", name=op.f("uq_party_group_branch_id_name")),
    )
    op.create_table(
        "requirement_override",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("requirement_key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("minimum", sa.Integer(), nullable=False),
        sa.CheckConstraint("minimum >= 1", name=op.f("ck_requirement_override_minimum")),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_requirement_override_branch_id_branch"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requirement_override")),
        sa.UniqueConstraint(
            "branch_id", "requirement_key", name=op.f("uq_requirement_override_branch_id_requirement_key")
        ),
    )
    op.create_table(
        "member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("party_group_id", sa.Integer(), nullable=True),
        sa.Column("reachable", sa.Boolean(), nullable=False),
        sa.Column("reminders_enabled", sa.Boolean(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('书记', '副书记', '组织委员', '宣传委员', '纪检委员', '党小组长', '党员')",
            name=op.f("ck_member_role_valid"),
        ),
        sa.CheckConstraint("status IN ('正式党员', '预备党员')", name=op.f("ck_member_status_valid")),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_member_branch_id_branch"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["party_group_id"],
            ["party_group.id"],
            name=op.f("fk_member_party_group_id_party_group"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member")),
        sa.UniqueConstraint("telegram_user_id", name=op.f("uq_member_telegram_user_id")),
    )
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.create_index("ix_member_branch_id", ["branch_id"], unique=False)

    op.create_table(
        "activity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("topic", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("place", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("lecturer", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("lecturer_is_secretary", sa.Boolean(), nullable=False),
        sa.Column("party_group_id", sa.Integer(), nullable=True),
        sa.Column("checkin_opens_before_min", sa.Integer(), nullable=False),
        sa.Column("checkin_closes_after_min", sa.Integer(), nullable=False),
        sa.Column("checkin_code", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("minutes", sa.Text(), nullable=True),
        sa.Column("minutes_file_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("recorded_after", sa.Boolean(), nullable=False),
        sa.Column("announcement_message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('支部党员大会', '支委会', '党小组会', '党课', '主题党日', '组织生活会', '民主评议党员', '其他')",
            name=op.f("ck_activity_kind_valid"),
        ),
        sa.CheckConstraint("status IN ('planned', 'held', 'cancelled')", name=op.f("ck_activity_status_valid")),
        sa.CheckConstraint(
            "checkin_opens_before_min >= 0 AND checkin_closes_after_min >= 0", name=op.f("ck_activity_checkin_window")
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_activity_branch_id_branch"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["member.id"], name=op.f("fk_activity_created_by_member"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["party_group_id"],
            ["party_group.id"],
            name=op.f("fk_activity_party_group_id_party_group"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity")),
    )
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.create_index("ix_activity_branch_id_starts_at", ["branch_id", "starts_at"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.Column("actor_member_id", sa.Integer(), nullable=True),
        sa.Column("actor_telegram_id", sa.BigInteger(), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_member_id"], ["member.id"], name=op.f("fk_audit_log_actor_member_id_member"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_audit_log_branch_id_branch"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_branch_id_at", ["branch_id", "at"], unique=False)

    op.create_table(
        "invite",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sqlmodel.sql.sqltypes.AutoString(length=43), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("uses >= 0 AND uses <= max_uses", name=op.f("ck_invite_uses")),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branch.id"], name=op.f("fk_invite_branch_id_branch"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["member.id"], name=op.f("fk_invite_created_by_member"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invite")),
        sa.UniqueConstraint("token", name=op.f("uq_invite_token")),
    )
    op.create_table(
        "activity_kind",
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.CheckConstraint(
            "kind IN ('支部党员大会', '支委会', '党小组会', '党课', '主题党日', '组织生活会', '民主评议党员', '其他')",
            name=op.f("ck_activity_kind_kind_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["activity_id"], ["activity.id"], name=op.f("fk_activity_kind_activity_id_activity"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("activity_id", "kind", name=op.f("pk_activity_kind")),
    )
    op.create_table(
        "attendance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("leave_reason", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("leave_note", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("method IN ('button', 'command', 'code', 'proxy')", name=op.f("ck_attendance_method_valid")),
        sa.CheckConstraint("status IN ('present', 'leave', 'absent')", name=op.f("ck_attendance_status_valid")),
        sa.ForeignKeyConstraint(
            ["activity_id"], ["activity.id"], name=op.f("fk_attendance_activity_id_activity"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_attendance_member_id_member"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["member.id"], name=op.f("fk_attendance_recorded_by_member"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance")),
        sa.UniqueConstraint("activity_id", "member_id", name=op.f("uq_attendance_activity_id_member_id")),
    )
    with op.batch_alter_table("attendance", schema=None) as batch_op:
        batch_op.create_index("ix_attendance_member_id", ["member_id"], unique=False)

    op.create_table(
        "checkin_code_attempt",
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activity.id"],
            name=op.f("fk_checkin_code_attempt_activity_id_activity"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_checkin_code_attempt_member_id_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("activity_id", "member_id", name=op.f("pk_checkin_code_attempt")),
    )
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_document_scope_branch_id_branch"), "branch", ["scope_branch_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_document_scope_branch_id_branch"), type_="foreignkey")

    op.drop_table("checkin_code_attempt")
    with op.batch_alter_table("attendance", schema=None) as batch_op:
        batch_op.drop_index("ix_attendance_member_id")

    op.drop_table("attendance")
    op.drop_table("activity_kind")
    op.drop_table("invite")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_branch_id_at")

    op.drop_table("audit_log")
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.drop_index("ix_activity_branch_id_starts_at")

    op.drop_table("activity")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_index("ix_member_branch_id")

    op.drop_table("member")
    op.drop_table("requirement_override")
    op.drop_table("party_group")
    op.drop_table("branch")
