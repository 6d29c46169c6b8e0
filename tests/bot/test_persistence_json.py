"""Conversation state is stored as JSON (a type tag plus fields), never as a pickle: whoever can write the
``conversation_state`` table cannot make the bot run code. Rows pickled by earlier versions are converted by the
migration when they hold only the bot's own drafts, and dropped with a warning otherwise."""

from __future__ import annotations

import json
import logging
import os
import pickle
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from bot import state_json
from bot.db import ALEMBIC_INI, Database, make_engine, upgrade_database
from bot.models import ActivityKind, ConversationState, ConversationStateKind, MemberStatus
from bot.persistence import DatabasePersistence
from bot.services.invites import JoinOffer
from handlers.activities import _Draft
from handlers.branch import JoinDraft

SHANGHAI = ZoneInfo("Asia/Shanghai")
JSON_STATE_REVISION = "0008"  # the migration that turns the pickles into JSON
USER, OTHER = 1001, 1002


def drafts() -> dict[object, object]:
    """A person's user_data as the flows leave it: a /new draft, a /done target, a join draft, a leave note."""
    return {
        "activities.new:-100123": _Draft(
            member_id=7,
            timezone="Asia/Shanghai",
            kinds=[ActivityKind.THEME_DAY, ActivityKind.MEMBERS_MEETING],
            day=date(2026, 12, 4),
            starts_at=datetime(2026, 12, 4, 15, tzinfo=SHANGHAI),
            place="三楼会议室",
            group_choices={3: "第一党小组", 4: "第二党小组"},
            prompt_id=55,
        ),
        "activities.minutes:-100123": (7, 12),
        "join_draft": JoinDraft(
            "tok", JoinOffer(1, "第一党支部", ((3, "第一党小组"),)), name="赵六", status=MemberStatus.PROBATIONARY
        ),
        "leave_note_activity_id": 12,
    }


def test_values_round_trip_through_tagged_json() -> None:
    value = drafts()
    encoded = state_json.dumps(value)
    assert json.loads(encoded)["$type"] == "dict"
    assert '"handlers.activities:_Draft"' in encoded and '"bot.models:ActivityKind"' in encoded
    assert state_json.loads(encoded) == value
    restored = state_json.loads(encoded)["activities.new:-100123"]
    assert restored.starts_at.tzinfo == SHANGHAI and restored.starts_at.utcoffset() is not None


@pytest.mark.parametrize(
    "forged",
    [
        {"$type": "dataclass", "class": "subprocess:Popen", "fields": {"args": ["touch", "x"]}},
        {"$type": "dataclass", "class": "os:system", "fields": {}},
        {"$type": "enum", "class": "handlers.activities:escape", "value": "x"},  # not an enum
        {"$type": "dataclass", "class": "handlers.activities:<locals>.x", "fields": {}},
        {"$type": "pickle", "value": "gASVAAAAAAAAAAAu"},
    ],
)
def test_only_the_bots_own_dataclasses_and_enums_load(forged: dict[str, object]) -> None:
    with pytest.raises(state_json.StateFormatError):
        state_json.loads(json.dumps(forged))


def test_values_that_cannot_be_stored_are_refused() -> None:
    with pytest.raises(state_json.StateFormatError):
        state_json.dumps({"engine": object()})


async def test_persistence_writes_json_and_reads_it_back(database_url: str) -> None:
    database = Database(database_url)
    persistence = DatabasePersistence(database)
    await persistence.get_user_data()
    await persistence.update_user_data(USER, drafts())
    await persistence.update_conversation("new_activity", (-100123, USER), 2)
    await persistence.flush()

    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(select(ConversationState.kind, ConversationState.data))).all()
    finally:
        await engine.dispose()
    assert sorted(kind for kind, _ in rows) == ["conversation", "user_data"]
    for _, data in rows:
        json.loads(data)  # plain JSON text, no pickle

    again = DatabasePersistence(Database(database_url))
    assert await again.get_user_data() == {USER: drafts()}
    assert await again.get_conversations("new_activity") == {(-100123, USER): 2}
    await again.flush()


class _Exploit:
    """A pickle that would create a file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def _revision_before_json() -> str:
    config = Config(str(ALEMBIC_INI))
    previous = ScriptDirectory.from_config(config).get_revision(JSON_STATE_REVISION).down_revision
    assert isinstance(previous, str)
    return previous


async def test_pickled_rows_are_converted_or_dropped_with_a_warning(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await upgrade_database(database_url, _revision_before_json())
    marker = tmp_path / "exploited"
    rows = [
        ("user_data", "", str(USER), pickle.dumps(drafts())),
        ("conversation", "new_activity", json.dumps([-100123, USER]), pickle.dumps(2)),
        # OTHER's drafts hold a pickle that runs a command: dropped, and so is his conversation step
        ("user_data", "", str(OTHER), pickle.dumps({"x": _Exploit(marker)})),
        ("conversation", "join", json.dumps([OTHER, OTHER]), pickle.dumps(1)),
        # a class that no longer exists
        ("conversation", "kb_upload", json.dumps([USER, USER]), b"chandlers.branch\nMissingDraft\n."),
    ]
    engine = make_engine(database_url)
    try:
        async with engine.begin() as connection:
            for kind, name, key, value in rows:
                await connection.execute(
                    text(
                        "INSERT INTO conversation_state (kind, name, key, value, updated_at)"
                        " VALUES (:kind, :name, :key, :value, :at)"
                    ),
                    {"kind": kind, "name": name, "key": key, "value": value, "at": datetime(2026, 11, 1)},
                )
    finally:
        await engine.dispose()

    with caplog.at_level(logging.WARNING):
        await upgrade_database(database_url)
    assert not marker.exists()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([m for m in warnings if "dropping" in m]) == 3, warnings
    assert any("MissingDraft" in m for m in warnings)

    persistence = DatabasePersistence(Database(database_url))
    assert await persistence.get_user_data() == {USER: drafts()}
    assert await persistence.get_conversations("new_activity") == {(-100123, USER): 2}
    assert await persistence.get_conversations("join") == {}
    assert await persistence.get_conversations("kb_upload") == {}
    await persistence.flush()


async def test_a_forged_json_row_is_dropped_at_start_up(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    await upgrade_database(database_url)
    forged = {"$type": "dict", "items": [["x", {"$type": "dataclass", "class": "subprocess:Popen", "fields": {}}]]}
    engine = make_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                ConversationState.__table__.insert().values(  # type: ignore[attr-defined]
                    kind=ConversationStateKind.USER_DATA.value,
                    name="",
                    key=str(USER),
                    data=json.dumps(forged),
                    updated_at=datetime.now(UTC),
                )
            )
    finally:
        await engine.dispose()
    persistence = DatabasePersistence(Database(database_url))
    with caplog.at_level(logging.WARNING, logger="bot.persistence"):
        assert await persistence.get_user_data() == {}
    assert any("subprocess:Popen" in r.getMessage() for r in caplog.records)
    await persistence.flush()
