"""The `partybot` command: run the bot, chat in the terminal, ask questions, manage the knowledge base and the
branch rosters (import, list, move members), migrate.

`ask` is meant for scripts and benchmarks and starts fast: it imports neither telegram nor alembic, and when the
SQLite database does not exist yet it answers from the curated knowledge without creating one. Everything else
brings the schema up to date first. Exit codes: 0 ok, 1 the operation failed, 2 configuration or usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import sys
from collections.abc import Coroutine, Iterable, Sequence
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote

from bot.config import ConfigError, Settings, load_settings
from bot.secrecy import SecretMask

if TYPE_CHECKING:
    from bot.services.ledger import LedgerFile, LedgerFormat, LedgerPeriod
    from knowledge.answer import Answerer
    from knowledge.answer_types import Answer

log = logging.getLogger(__name__)
T = TypeVar("T")

EXIT_FAILED = 1
EXIT_USAGE = 2

NO_TOKEN = (
    "未设置 TELEGRAM_BOT_TOKEN，无法连接 Telegram；可先用 `partybot chat` 在终端里试用。"
    " / TELEGRAM_BOT_TOKEN is not set: try `partybot chat` for the local console."
)


WEBHOOK_UNSET = (
    "--webhook 需要设置 PARTYBOT_WEBHOOK_URL 和 PARTYBOT_WEBHOOK_SECRET。"
    " / --webhook needs PARTYBOT_WEBHOOK_URL and PARTYBOT_WEBHOOK_SECRET ([A-Za-z0-9_-], 1–256 characters)."
)


class CommandFailed(Exception):
    """The command could not do its job; the message is one line for the operator (exit status 1)."""


# --- logging -------------------------------------------------------------------------------------------------


class KeyValueFormatter(logging.Formatter):
    """One ``key=value`` line per record; values with spaces or quotes are JSON-quoted; secrets are masked (the
    whole line, with the same rule as the masks records get when they are made: bot.secrecy.SecretMask)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._mask = SecretMask(secrets)

    def format(self, record: logging.LogRecord) -> str:
        fields = {
            "time": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:  # exc_text when bot.secrecy's mask has written it (masked)
            fields["exc"] = record.exc_text or self.formatException(record.exc_info)
        return self._mask.mask(" ".join(f"{key}={_quote(value)}" for key, value in fields.items()))


def _quote(value: str) -> str:
    if value and not any(char.isspace() or char in "\"'=" for char in value):
        return value
    return json.dumps(value, ensure_ascii=False)


def configure_logging(settings: Settings, *, console: bool = False) -> None:
    """Key=value lines on stderr. In the console chat they would interleave with the conversation, so there
    only warnings show unless PARTYBOT_LOG_LEVEL asks for more."""
    from bot.secrecy import install_log_mask, secrets_of

    # every record, from every logger and at every level, has the secrets masked when it is made
    install_log_mask(settings)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter(secrets_of(settings)))
    level = "WARNING" if console and "log_level" not in settings.model_fields_set else settings.log_level
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # httpx logs every request URL at INFO, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Alembic narrates its plugins and dialect at INFO; bot.migrations logs the steps actually applied.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(settings.log_level)))
    # APScheduler logs every job run at INFO (delivery runs every few seconds); scheduler.runner logs what they did.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLevelName(settings.log_level)))


# --- database helpers ----------------------------------------------------------------------------------------


def _holds_no_documents(database_url: str) -> bool:
    """True when the URL names a SQLite database that holds no uploaded document (a missing file included).

    Looked up with the standard library's sqlite3, read-only: `ask` then answers from the curated knowledge
    without importing SQLAlchemy and the models, which would cost a third of its cold start.
    """
    scheme, _, rest = database_url.partition("://")
    if not scheme.startswith("sqlite"):
        return False
    database = unquote(rest.removeprefix("/").partition("?")[0])
    if database in ("", ":memory:") or not Path(database).exists():
        return True
    import sqlite3

    try:
        with closing(sqlite3.connect(f"{Path(database).resolve().as_uri()}?mode=ro", uri=True)) as connection:
            return connection.execute("SELECT NOT EXISTS (SELECT 1 FROM document)").fetchone()[0] == 1
    except sqlite3.Error:  # no such table yet, or not a database: let the full path migrate or report it
        return False


def _run_database(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run database work; a database or I/O failure becomes a one-line ``CommandFailed``."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    try:
        return asyncio.run(coroutine)
    except (OSError, SQLAlchemyError) as exc:
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        first_line = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise CommandFailed(f"数据库操作失败 / database error: {first_line}") from exc


# --- ask ------------------------------------------------------------------------------------------------------


async def _stored_answerer(database_url: str) -> Answerer:
    """Curated plus stored knowledge; migrates only if the schema is missing or older than this code."""
    from sqlalchemy.exc import DBAPIError

    from bot.db import open_database, upgrade_database
    from bot.services.knowledge_base import build_answerer

    async with open_database(database_url, migrate=False) as sessions:
        try:
            return await build_answerer(sessions)
        except DBAPIError:
            log.info("knowledge tables missing or outdated; upgrading database")
            await upgrade_database(database_url)
            return await build_answerer(sessions)


def _render_answer(answer: Answer, as_json: bool) -> str:
    if as_json:
        return json.dumps(answer.to_dict(), ensure_ascii=False)
    lines = [answer.answer]
    if answer.source is not None and not answer.part_keys:  # a composed answer names each part's source itself
        lines.append(f"来源：{answer.source.title}" + (f" › {answer.source.section}" if answer.source.section else ""))
    others = answer.candidates[1:] if answer.found else answer.candidates  # when found, the first is the answer
    if others:
        lines.append("相关主题：" if answer.found else "您可以试着问：")
        lines.extend(f"  · {c.topic}（{c.title}，{c.score:.2f}）" for c in others)
    return "\n".join(lines)


def _cmd_ask(settings: Settings, args: argparse.Namespace) -> int:
    if args.batch == bool(args.question):
        print('用法 / usage: partybot ask "问题" [--json]  或  partybot ask --batch [--json]', file=sys.stderr)
        return EXIT_USAGE
    if _holds_no_documents(settings.database_url):
        from knowledge.answer import Answerer
        from knowledge.curated import load_curated

        answerer = Answerer(load_curated())
    else:
        answerer = _run_database(_stored_answerer(settings.database_url))
    if not args.batch:
        print(_render_answer(answerer.answer(" ".join(args.question)), args.json))
        return 0
    for line in sys.stdin:
        print(_render_answer(answerer.answer(line.strip()), args.json), flush=True)
        if not args.json:
            print(flush=True)
    return 0


# --- kb -------------------------------------------------------------------------------------------------------


async def _kb_add(settings: Settings, path: Path, title: str | None) -> int:
    from bot.db import open_database
    from bot.services.knowledge_base import KnowledgeBaseFull, add_document
    from bot.services.untrusted_files import parse_document
    from knowledge.ingest import IngestError, read_file

    try:
        parsed = await parse_document(read_file(path), path.name, title)  # in a child process, with limits
    except IngestError as exc:
        raise CommandFailed(f"{exc}（{path}）") from exc
    async with open_database(settings.database_url) as sessions, sessions() as session:
        try:
            document = await add_document(session, parsed, path.name)
        except KnowledgeBaseFull as exc:
            raise CommandFailed(f"共享资料已达上限（{exc.limit} 段），请先用 partybot kb remove 删除旧文档") from exc
    print(f"已添加 / added: #{document.id}《{document.title}》，{document.passage_count} 段（{path.name}）")
    return 0


async def _kb_list(settings: Settings) -> int:
    from bot.db import open_database
    from bot.services.knowledge_base import list_documents

    async with open_database(settings.database_url) as sessions, sessions() as session:
        documents = await list_documents(session)
    if not documents:
        print("知识库里还没有上传的文档 / no documents yet（partybot kb add FILE）")
        return 0
    for document in documents:
        added = document.created_at.astimezone(settings.timezone).strftime("%Y-%m-%d %H:%M")
        print(f"#{document.id}\t《{document.title}》\t{document.passage_count} 段\t{document.filename}\t{added}")
    return 0


async def _kb_remove(settings: Settings, document_id: int) -> int:
    from bot.db import open_database
    from bot.services.knowledge_base import remove_document

    async with open_database(settings.database_url) as sessions, sessions() as session:
        removed = await remove_document(session, document_id)
    if not removed:
        raise CommandFailed(f"没有编号为 #{document_id} 的文档 / no such document")
    print(f"已删除 / removed: #{document_id}")
    return 0


KB_SEARCH_RESULTS = 8


async def _kb_search(settings: Settings, question: str) -> int:
    from bot.db import open_database
    from bot.services.knowledge_base import build_answerer

    async with open_database(settings.database_url) as sessions:
        answerer = await build_answerer(sessions)
    candidates = answerer.rank(question, limit=KB_SEARCH_RESULTS)
    if not candidates:
        print(answerer.answer(question).answer)
        return 0
    for candidate in candidates:
        passage = answerer.passage(candidate.key)
        snippet = "" if passage is None else passage.text.replace("\n", " ")[:60]
        print(f"{candidate.score:8.3f}  [{candidate.key}] {candidate.title} › {candidate.section}\n          {snippet}")
    return 0


def _cmd_kb(settings: Settings, args: argparse.Namespace) -> int:
    if args.kb_command == "add":
        return _run_database(_kb_add(settings, Path(args.file), args.title))
    if args.kb_command == "list":
        return _run_database(_kb_list(settings))
    if args.kb_command == "remove":
        return _run_database(_kb_remove(settings, args.id))
    return _run_database(_kb_search(settings, " ".join(args.question)))


# --- members --------------------------------------------------------------------------------------------------


async def _members_import(settings: Settings, path: Path, content: bytes, branch_id: int) -> int:
    from bot.db import open_database
    from bot.services.roster import RosterError, import_roster

    async with open_database(settings.database_url) as sessions, sessions() as session:
        try:
            result = await import_roster(session, branch_id, path.name, content, datetime.now(UTC), None)
        except RosterError as exc:
            raise CommandFailed(f"没有导入任何人 / nothing imported（{path.name}）：\n{exc}") from exc
    created = f"，新建党小组：{'、'.join(result.groups_created)}" if result.groups_created else ""
    print(f"已导入 / imported: {result.added} 名党员{created}")
    return 0


async def _members_move(settings: Settings, member_id: int, branch_id: int) -> int:
    from bot.db import open_database
    from bot.services.branch_members import move_member
    from bot.services.branch_setup import BranchError

    async with open_database(settings.database_url) as sessions, sessions() as session:
        try:
            member = await move_member(session, member_id, branch_id, datetime.now(UTC), None)
        except BranchError as exc:
            raise CommandFailed(str(exc)) from exc
    print(f"已转移 / moved: #{member.id} {member.name} → 支部 #{branch_id}（签到记录保留）")
    return 0


async def _members_list(settings: Settings, branch_id: int | None) -> int:
    from bot.db import open_database
    from bot.services.branch_members import branch_roster
    from bot.services.branch_setup import list_branches

    async with open_database(settings.database_url) as sessions, sessions() as session:
        if branch_id is None:
            for branch, members in await list_branches(session):
                print(f"#{branch.id}\t{branch.name}\t{members} 人")
            return 0
        roster = await branch_roster(session, branch_id)
    for group in roster.groups:
        for member in group.members:
            linked = "" if member.telegram_user_id else "\t未登记"
            print(f"#{member.id}\t{member.name}\t{member.status}\t{member.role}\t{group.name or '无党小组'}{linked}")
    return 0


def _cmd_members(settings: Settings, args: argparse.Namespace) -> int:
    if args.members_command == "import":
        path = Path(args.file)
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise CommandFailed(f"无法读取文件 / cannot read {path}: {exc.strerror}") from exc
        return _run_database(_members_import(settings, path, content, args.branch))
    if args.members_command == "move":
        return _run_database(_members_move(settings, args.member, args.to))
    return _run_database(_members_list(settings, args.branch))


# --- export ---------------------------------------------------------------------------------------------------

EXPORT_PERIOD_HELP = "统计期：2026Q4（季度）、2026-11（月）或 2026（全年）；默认本季度"


async def _export(settings: Settings, branch_id: int, period: LedgerPeriod | None, fmt: LedgerFormat) -> LedgerFile:
    from bot.db import open_database
    from bot.services.ledger import export_ledger

    async with open_database(settings.database_url) as sessions, sessions() as session:
        try:
            return await export_ledger(session, branch_id, period, datetime.now(UTC), fmt)
        except LookupError as exc:
            raise CommandFailed(
                f"没有编号为 {branch_id} 的支部 / no branch #{branch_id}（见 partybot members list）"
            ) from exc


def _cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    from bot.services.ledger import LedgerFormat, parse_period

    try:
        period = parse_period(args.period) if args.period else None
    except ValueError as exc:
        print(f"{exc}。{EXPORT_PERIOD_HELP} / period: 2026Q4, 2026-11 or 2026", file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.out) if args.out else None
    fmt = LedgerFormat(args.format or ("csv" if out and out.suffix.lower() == ".csv" else "xlsx"))
    ledger = _run_database(_export(settings, args.branch, period, fmt))
    path = out or Path(ledger.filename)
    try:
        path.write_bytes(ledger.content)
    except OSError as exc:
        raise CommandFailed(f"无法写入文件 / cannot write {path}: {exc.strerror}") from exc
    print(f"已导出 / exported: {path}（{ledger.period_label}，{ledger.activities} 项活动）")
    return 0


# --- run, chat, db --------------------------------------------------------------------------------------------


async def _upgrade(settings: Settings) -> None:
    from bot.db import upgrade_database

    await upgrade_database(settings.database_url)


def _cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    if settings.telegram_bot_token is None:
        print(NO_TOKEN, file=sys.stderr)
        return EXIT_USAGE
    webhook = getattr(args, "webhook", False)
    if webhook and (settings.webhook_url is None or settings.webhook_secret is None):
        print(WEBHOOK_UNSET, file=sys.stderr)
        return EXIT_USAGE
    _run_database(_upgrade(settings))
    from bot.app import run_polling, run_webhook

    (run_webhook if webhook else run_polling)(settings)
    return 0


def _cmd_chat(settings: Settings, _args: argparse.Namespace) -> int:
    _run_database(_upgrade(settings))
    from bot.console import run_console

    run_console(settings)
    return 0


def _cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    if args.db_command == "backup":
        return _db_backup(settings, args.file)
    _run_database(_upgrade(settings))
    print("数据库已是最新 / database is up to date")
    return 0


def _db_backup(settings: Settings, file: str) -> int:
    """SQLite: a consistent copy of the live database; PostgreSQL: the pg_dump command to use (bot/backup.py)."""
    from bot.backup import BackupError, backup_sqlite, postgresql_backup_steps
    from bot.db import is_sqlite, sqlite_path

    if not is_sqlite(settings.database_url):
        print(postgresql_backup_steps(settings.database_url, file))
        return 0
    database = sqlite_path(settings.database_url)
    if database is None:
        raise CommandFailed("内存数据库无法备份 / an in-memory database cannot be backed up")
    try:
        report = backup_sqlite(database, Path(file))
    except (BackupError, OSError) as exc:
        raise CommandFailed(str(exc)) from exc
    print(f"已备份 / backed up: {report.path}（{report.size:,} 字节 / bytes，校验通过 / checked）")
    print(report.restore)
    return 0


def _cmd_default(settings: Settings, args: argparse.Namespace) -> int:
    return (_cmd_run if settings.telegram_bot_token else _cmd_chat)(settings, args)


# --- entry point ----------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="partybot",
        description="党支部助手 partybot。不带子命令时：设置了 TELEGRAM_BOT_TOKEN 则运行机器人，否则打开终端对话。",
    )
    parser.set_defaults(handler=_cmd_default)
    commands = parser.add_subparsers(title="子命令 / commands", metavar="COMMAND")

    run = commands.add_parser("run", help="连接 Telegram 运行机器人（长轮询） / run the Telegram bot")
    run.add_argument(
        "--webhook",
        action="store_true",
        help="以 webhook 方式接收更新（可多实例） / receive updates by webhook (several instances)",
    )
    run.set_defaults(handler=_cmd_run)
    commands.add_parser("chat", help="在终端里与机器人对话 / local console chat").set_defaults(handler=_cmd_chat)

    ask = commands.add_parser("ask", help="回答一个问题 / answer a question")
    ask.add_argument("question", nargs="*", help="问题，例如：党员大会多久开一次")
    ask.add_argument("--batch", action="store_true", help="从标准输入逐行读取问题，每行输出一个答案")
    ask.add_argument("--json", action="store_true", help="输出 JSON（机器接口） / machine-readable output")
    ask.set_defaults(handler=_cmd_ask)

    kb = commands.add_parser("kb", help="管理知识库文档 / manage uploaded documents")
    kb.set_defaults(handler=_cmd_kb)
    kb_commands = kb.add_subparsers(dest="kb_command", metavar="COMMAND", required=True)
    kb_add = kb_commands.add_parser("add", help="添加文档（.docx .pdf .txt .md）")
    kb_add.add_argument("file", help="文件路径")
    kb_add.add_argument("--title", help="文档标题（默认从文件中识别）")
    kb_commands.add_parser("list", help="列出文档")
    kb_commands.add_parser("remove", help="删除文档").add_argument("id", type=int, help="文档编号")
    kb_commands.add_parser("search", help="检索知识库，显示得分").add_argument("question", nargs="+", help="问题")

    members = commands.add_parser("members", help="支部党员名册 / branch members")
    members.set_defaults(handler=_cmd_members)
    members_commands = members.add_subparsers(dest="members_command", metavar="COMMAND", required=True)
    members_import = members_commands.add_parser("import", help="从 .csv 或 .xlsx 名册导入党员（有错则一个也不导入）")
    members_import.add_argument("file", help="名册文件：表头须有「姓名」，可有「状态」「职务」「党小组」")
    members_import.add_argument("--branch", type=int, required=True, help="支部编号（见 partybot members list）")
    members_move = members_commands.add_parser("move", help="把党员转到另一个支部（签到记录保留）")
    members_move.add_argument("member", type=int, help="党员编号（见 partybot members list --branch ID）")
    members_move.add_argument("--to", type=int, required=True, help="目标支部编号")
    members_list = members_commands.add_parser("list", help="列出支部；加 --branch 列出该支部党员")
    members_list.add_argument("--branch", type=int, help="支部编号")

    export = commands.add_parser("export", help="导出支部台账（.xlsx 或 .csv） / export a branch's ledger")
    export.add_argument("--branch", type=int, required=True, help="支部编号（见 partybot members list）")
    export.add_argument("--period", help=EXPORT_PERIOD_HELP)
    export.add_argument("--format", choices=["xlsx", "csv"], help="文件格式（默认按 --out 的扩展名，否则 xlsx）")
    export.add_argument("--out", help="输出文件（默认：支部名_台账_统计期.xlsx，写在当前目录）")
    export.set_defaults(handler=_cmd_export)

    db = commands.add_parser("db", help="数据库 / database")
    db.set_defaults(handler=_cmd_db)
    db_commands = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    db_commands.add_parser("upgrade", help="把数据库结构升级到最新 / migrate to the newest schema")
    db_commands.add_parser(
        "backup",
        help="备份数据库（SQLite：运行中也可一致复制；PostgreSQL：给出 pg_dump 命令） / back up the database",
    ).add_argument("file", help="备份文件（不会覆盖已有文件） / backup file (never overwritten)")
    return parser


def _use_utf8_streams() -> None:
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.encoding.lower().replace("-", "") != "utf8":
            stream.reconfigure(encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    _use_utf8_streams()
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    console = args.handler is _cmd_chat or (args.handler is _cmd_default and not settings.telegram_bot_token)
    configure_logging(settings, console=console)
    try:
        return int(args.handler(settings, args))
    except CommandFailed as exc:
        print(exc, file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
