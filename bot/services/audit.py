"""The audit trail: one AuditLog row for each change, written in the same transaction as the change."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.models import AuditLog
from bot.services.access import Caller


def record_change(
    session: AsyncSession,
    action: str,
    *,
    caller: Caller | None = None,
    branch_id: int | None = None,
    actor_telegram_id: int | None = None,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditLog:
    """Add (not commit) an audit row; the caller's commit makes it durable together with the change."""
    entry = AuditLog(
        branch_id=branch_id if branch_id is not None else (caller.branch.id if caller else None),
        actor_member_id=caller.member.id if caller else None,
        actor_telegram_id=actor_telegram_id
        if actor_telegram_id is not None
        else (caller.member.telegram_user_id if caller else None),
        action=action,
        target=target,
        detail=json.dumps(detail or {}, ensure_ascii=False, default=str),
    )
    session.add(entry)
    return entry
