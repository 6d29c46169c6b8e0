"""Member lifecycle and safer joining: members can be inactive (left or removed, records kept), roster rows can
carry a one-time claim code (stored hashed), invites can be revoked, and invite tokens are stored as hashes.

Existing invite tokens are migrated, not invalidated: each row's token is replaced by its SHA-256, so links
already handed out keep working until they expire.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:00:00
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("member") as batch_op:
        batch_op.add_column(sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False))
        batch_op.add_column(sa.Column("left_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("claim_code_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("claim_code_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_member_claim_code_hash"), ["claim_code_hash"])

    with op.batch_alter_table("invite") as batch_op:
        batch_op.add_column(sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    invite = sa.table(
        "invite", sa.column("id", sa.Integer()), sa.column("token", sa.String()), sa.column("token_hash", sa.String())
    )
    connection = op.get_bind()
    for invite_id, token in connection.execute(sa.select(invite.c.id, invite.c.token)).all():
        digest = hashlib.sha256(token.encode()).hexdigest()
        connection.execute(sa.update(invite).where(invite.c.id == invite_id).values(token_hash=digest))
    with op.batch_alter_table("invite") as batch_op:
        batch_op.alter_column("token_hash", existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False)
        batch_op.drop_constraint(batch_op.f("uq_invite_token"), type_="unique")
        batch_op.drop_column("token")
        batch_op.create_unique_constraint(batch_op.f("uq_invite_token_hash"), ["token_hash"])


def downgrade() -> None:
    # The plain tokens cannot be recovered from their hashes: every invite link is dropped on the way down.
    op.execute(sa.text("DELETE FROM invite"))
    with op.batch_alter_table("invite") as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_invite_token_hash"), type_="unique")
        batch_op.drop_column("token_hash")
        batch_op.drop_column("revoked_at")
        batch_op.add_column(sa.Column("token", sqlmodel.sql.sqltypes.AutoString(length=43), nullable=False))
        batch_op.create_unique_constraint(batch_op.f("uq_invite_token"), ["token"])
    with op.batch_alter_table("member") as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_member_claim_code_hash"), type_="unique")
        batch_op.drop_column("claim_code_expires_at")
        batch_op.drop_column("claim_code_hash")
        batch_op.drop_column("left_at")
        batch_op.drop_column("active")
