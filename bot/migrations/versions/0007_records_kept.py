"""Records are kept: the roster of each held activity (activity_roster), and no foreign key that deletes a record.

Attendance rows and activity rosters no longer vanish with their activity or member, nor audit-log rows and
activities with their branch (ON DELETE CASCADE becomes RESTRICT): the bot cancels activities and makes members
inactive instead. Every activity already held gets its roster now, from the members of its branch (the rule of
bot.services.expected_roster.roster_when_held: those who had not left before it started, and had joined by the time
its check-in closed unless it was entered afterwards), so its 台账 stops following later roster changes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 02:30:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, referred table, old ondelete, new ondelete)
_FOREIGN_KEYS = (
    ("attendance", "activity_id", "activity", "CASCADE", "RESTRICT"),
    ("attendance", "member_id", "member", "CASCADE", "RESTRICT"),
    ("audit_log", "branch_id", "branch", "CASCADE", "RESTRICT"),
    ("activity", "branch_id", "branch", "CASCADE", "RESTRICT"),
)
_CHUNK = 5000


def _set_foreign_keys(new: bool) -> None:
    for table, column, referred, old_action, new_action in _FOREIGN_KEYS:
        name = f"fk_{table}_{column}_{referred}"
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(name, type_="foreignkey")
            batch_op.create_foreign_key(name, referred, [column], ["id"], ondelete=new_action if new else old_action)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _backfill_rosters() -> None:
    connection = op.get_bind()
    activity = sa.table(
        "activity",
        sa.column("id", sa.Integer()),
        sa.column("branch_id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("starts_at", sa.DateTime(timezone=True)),
        sa.column("checkin_closes_after_min", sa.Integer()),
        sa.column("recorded_after", sa.Boolean()),
        sa.column("roster_recorded_at", sa.DateTime(timezone=True)),
    )
    member = sa.table(
        "member",
        sa.column("id", sa.Integer()),
        sa.column("branch_id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("role", sa.String()),
        sa.column("party_group_id", sa.Integer()),
        sa.column("joined_at", sa.DateTime(timezone=True)),
        sa.column("active", sa.Boolean()),
        sa.column("left_at", sa.DateTime(timezone=True)),
    )
    roster = sa.table(
        "activity_roster",
        sa.column("activity_id", sa.Integer()),
        sa.column("member_id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("role", sa.String()),
        sa.column("party_group_id", sa.Integer()),
    )
    members_of: dict[int, list[sa.Row[tuple[object, ...]]]] = {}
    for row in connection.execute(sa.select(member).order_by(member.c.id)):
        members_of.setdefault(row.branch_id, []).append(row)
    rows: list[dict[str, object]] = []
    held = connection.execute(sa.select(activity).where(activity.c.status == "held").order_by(activity.c.id))
    for event in held:
        starts_at = _aware(event.starts_at)
        closes_at = starts_at + timedelta(minutes=event.checkin_closes_after_min)
        for person in members_of.get(event.branch_id, []):
            if not person.active and (person.left_at is None or _aware(person.left_at) <= starts_at):
                continue  # had left before it
            if not event.recorded_after and _aware(person.joined_at) > closes_at:
                continue  # joined after it
            rows.append(
                {
                    "activity_id": event.id,
                    "member_id": person.id,
                    "status": person.status,
                    "role": person.role,
                    "party_group_id": person.party_group_id,
                }
            )
            if len(rows) >= _CHUNK:
                connection.execute(roster.insert(), rows)
                rows = []
    if rows:
        connection.execute(roster.insert(), rows)
    now = datetime.now(UTC)
    if connection.dialect.name == "sqlite":  # stored naive, in UTC (bot.db.UTCDateTime)
        now = now.replace(tzinfo=None)
    connection.execute(sa.update(activity).where(activity.c.status == "held").values(roster_recorded_at=now))


def upgrade() -> None:
    op.create_table(
        "activity_roster",
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("party_group_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "role IN ('书记', '副书记', '组织委员', '宣传委员', '纪检委员', '党小组长', '党员')",
            name=op.f("ck_activity_roster_role_valid"),
        ),
        sa.CheckConstraint("status IN ('正式党员', '预备党员')", name=op.f("ck_activity_roster_status_valid")),
        sa.ForeignKeyConstraint(
            ["activity_id"], ["activity.id"], name=op.f("fk_activity_roster_activity_id_activity"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["member.id"], name=op.f("fk_activity_roster_member_id_member"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["party_group_id"],
            ["party_group.id"],
            name=op.f("fk_activity_roster_party_group_id_party_group"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("activity_id", "member_id", name=op.f("pk_activity_roster")),
    )
    with op.batch_alter_table("activity_roster", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activity_roster_member_id"), ["member_id"], unique=False)
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("roster_recorded_at", sa.DateTime(timezone=True), nullable=True))
    _set_foreign_keys(new=True)
    _backfill_rosters()


def downgrade() -> None:
    _set_foreign_keys(new=False)
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.drop_column("roster_recorded_at")
    with op.batch_alter_table("activity_roster", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activity_roster_member_id"))
    op.drop_table("activity_roster")
