"""An index on reminder (activity_id, member_id): recording attendance cancels that member's reminders of the activity.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 03:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_reminder_activity_id_member_id", "reminder", ["activity_id", "member_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_reminder_activity_id_member_id", table_name="reminder")
