"""Assemble the python-telegram-bot Application: the one switchboard of every command and button the bot answers.

`build_application` wires settings, transport, the conversations' persistence (bot.persistence), start-up work
(database, knowledge index, command menu, and when asked the reminder runner) and the handlers; `run_polling` and
`run_webhook` run it against Telegram; `serving` runs it in-process (console, tests) the same way.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from telegram import BotCommand, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    BaseRateLimiter,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.config import ConfigError, Settings
from bot.db import Database
from bot.notifier import ReplyRateLimiter, TelegramNotifier
from bot.persistence import DatabasePersistence
from bot.secrecy import webhook_secret_token
from bot.services.checkin_batch import CheckinBatcher
from bot.services.reminders import QuietHours
from bot.update_order import PerUserOrderedProcessor
from handlers import (
    activities,
    activity_manage,
    activity_one_line,
    branch,
    branch_roles,
    branch_setup,
    checkin,
    common,
    errors,
    kb,
    keyboards,
    membership,
    progress,
    qa,
    reminders,
    start,
    texts,
)
from handlers.throttle import FloodGuard
from knowledge.answer import Answerer
from scheduler.pacing import Pacer
from scheduler.planner import plan
from scheduler.runner import DeliveryPolicy, ReminderRunner

logger = logging.getLogger(__name__)

# Opt in to PTB's timedelta durations (RetryAfter.retry_after …); without it each one warns (PITFALLS.md).
os.environ.setdefault("PTB_TIMEDELTA", "1")

OFFLINE_TOKEN = "123456:OFFLINE"  # the in-process transport accepts any token; no real bot behind it
# chat_member: who left or was removed from a branch's group (Telegram sends them only when asked for by name, and
# only to a bot that is an admin of the group; elsewhere the "left the group" service message does the same job)
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY, Update.CHAT_MEMBER]
RATE_LIMIT_RETRIES = 3
FLOOD_GUARD_GROUP = -1  # before every handler group
_ENGINE_KEY = "db_engine"
_RUNNER_KEY = "reminder_runner"


def build_application(
    settings: Settings,
    *,
    request: BaseRequest | None = None,
    answerer: Answerer | None = None,
    deliver_reminders: bool = False,
    rate_limiter: BaseRateLimiter | None = None,
    flood_guard: FloodGuard | bool | None = None,
) -> Application:
    """The Application. With ``request`` (an in-process transport) it has no updater and no rate limiter;
    with ``answerer`` given, start-up uses it instead of indexing the knowledge base (tests); with
    ``deliver_reminders`` it plans and sends reminders from start-up until it stops (`run_polling`, `run_webhook`);
    ``rate_limiter`` replaces the production one (tests give one to the in-process transport). ``flood_guard``
    (per-user and per-group rate limits): on by default against Telegram, off by default with the in-process
    transport (the console's one person; scripted tests type faster than anyone); True or a FloodGuard turns it on.

    The database is opened (migrated, engine made) by whoever needs it first: that is the persistence, which PTB
    loads in ``Application.initialize`` before ``post_init``; start-up then shares the same engine."""
    database = Database(settings.database_url)
    processor = PerUserOrderedProcessor(settings.concurrent_updates)
    builder = (
        Application.builder()
        .token(settings.telegram_bot_token or OFFLINE_TOKEN)
        .defaults(Defaults(parse_mode=ParseMode.HTML, tzinfo=settings.timezone))
        # different people's updates at once, each person's in order (the conversations rely on it); one person's
        # backlog holds at most one slot
        .concurrent_updates(processor)
        # the guided conversations' steps and drafts, kept in the database across restarts
        .persistence(DatabasePersistence(database))
        .post_stop(_stop_reminders)
        .post_shutdown(_shut_down)
    )
    if request is None:
        builder = (
            builder.base_url(settings.telegram_api_base_url)
            .base_file_url(settings.file_base_url)
            .rate_limiter(ReplyRateLimiter(max_retries=RATE_LIMIT_RETRIES))
        )
    else:
        builder = builder.request(request).get_updates_request(request).updater(None)
    if rate_limiter is not None:
        builder = builder.rate_limiter(rate_limiter)

    async def start_up(application: Application) -> None:
        application.bot_data[common.SESSIONS_KEY] = await database.sessions()  # opened by initialize already
        application.bot_data[_ENGINE_KEY] = database.engine
        application.bot_data[common.CHECKINS_KEY] = CheckinBatcher(application.bot_data[common.SESSIONS_KEY])
        application.bot_data[common.QUIET_HOURS_KEY] = _quiet_hours(settings)
        # The knowledge index (and jieba's dictionary) load here, once, never per message.
        await qa.install_answerer(application, answerer)
        await _publish_commands(application)
        if deliver_reminders:
            _start_reminders(application, settings)

    application = builder.post_init(start_up).build()
    processor.bind(application)  # it keeps PTB's user_data bounded
    if flood_guard is None:
        flood_guard = request is None
    if flood_guard is True:
        flood_guard = FloodGuard(qa.ADDRESSED_TO_BOT)
    if flood_guard:
        # first of all: per-user and per-group rate limits (a refused update goes no further; 请稍后再试 once a burst)
        application.add_handler(TypeHandler(Update, flood_guard), group=FLOOD_GUARD_GROUP)
    _register_handlers(application)
    return application


def _register_handlers(app: Application) -> None:
    """Every update the bot reacts to, in order (within a group the first matching handler wins)."""
    # --- branches and members: /setup, invite links (/start join_…), /members, /setrole, roster upload ---
    # conversations first: joining by invite link (/start join_…) and the roster upload (/import + file)
    app.add_handler(branch.join_conversation())
    app.add_handler(branch_setup.import_conversation())
    app.add_handler(CommandHandler("setup", branch_setup.setup))
    app.add_handler(CommandHandler("invite", branch.invite))
    app.add_handler(CommandHandler("members", branch_roles.members))
    app.add_handler(CommandHandler("setrole", branch_roles.setrole))
    app.add_handler(CommandHandler("group", branch_roles.group))
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, branch_setup.chat_migrated))
    # a member's lifecycle: /remove, /restore, claim links (/claimcode, /start claim_…), leaving the branch's group
    app.add_handler(CommandHandler("remove", membership.remove))
    app.add_handler(CommandHandler("restore", membership.restore))
    app.add_handler(CommandHandler("claimcode", membership.claimcode))
    app.add_handler(CommandHandler("start", membership.claim_start, filters.ChatType.PRIVATE & membership.CLAIM_LINK))
    app.add_handler(ChatMemberHandler(membership.member_changed, ChatMemberHandler.CHAT_MEMBER))
    app.add_handler(MessageHandler(filters.StatusUpdate.LEFT_CHAT_MEMBER, membership.left_chat_member))
    # /setrole's person and handover buttons; join-flow buttons pressed after that flow ended
    app.add_handler(CallbackQueryHandler(branch_roles.member_button, pattern=branch_roles.MEMBER_PATTERN))
    app.add_handler(CallbackQueryHandler(branch.stale_join_button, pattern=branch.JOIN_PATTERN))
    # --- activities: /new (guided or one line), /record, /activities, /cancel, /done, /move ---
    # the guided /new flow and /done's request for minutes come first: their steps take plain text and documents
    app.add_handler(activities.new_conversation())
    app.add_handler(activity_manage.minutes_conversation())
    app.add_handler(CommandHandler("record", activity_one_line.record))
    app.add_handler(CommandHandler("activities", activity_manage.activities))
    app.add_handler(CommandHandler("cancel", activity_manage.cancel))  # /cancel inside a flow is the flow's
    app.add_handler(CommandHandler("move", activity_manage.move))
    app.add_handler(CallbackQueryHandler(activities.stale_new_button, pattern=activities.NEW_PATTERN))
    # --- check-in and leave: 签到/请假 buttons, /checkin, /leave, /attendance ---
    # the optional note after a leave reason is plain text: this conversation precedes the generic text handlers
    app.add_handler(checkin.leave_note_conversation())
    app.add_handler(CallbackQueryHandler(checkin.checkin_button, pattern=checkin.CHECKIN_PATTERN))
    app.add_handler(CallbackQueryHandler(checkin.leave_button, pattern=checkin.LEAVE_PATTERN))
    app.add_handler(CommandHandler("checkin", checkin.checkin_command))
    app.add_handler(CommandHandler("leave", checkin.leave_command))
    # organizers: 代签/补签, 签到码, 出勤情况
    app.add_handler(CommandHandler("proxy", checkin.proxy_command))
    app.add_handler(CommandHandler("code", checkin.code_command))
    app.add_handler(CommandHandler("attendance", checkin.attendance_command))
    # --- progress, ledger and branch knowledge: /progress, /export, /kb ---
    # /kb and documents captioned /kb (after /kb alone, the next document): branch knowledge uploads
    app.add_handler(kb.kb_conversation())
    app.add_handler(CommandHandler("progress", progress.progress))
    app.add_handler(CommandHandler("require", progress.require))
    app.add_handler(CommandHandler("export", progress.export))
    # start and help
    app.add_handler(CommandHandler("start", start.start))
    app.add_handler(CommandHandler("help", start.help_command))
    # --- reminders: /themeday, /remind, /reminders, 稍后提醒 ---
    app.add_handler(CommandHandler("themeday", reminders.themeday))
    app.add_handler(CommandHandler("remind", reminders.remind))
    app.add_handler(CommandHandler("reminders", reminders.list_reminders))
    app.add_handler(CallbackQueryHandler(reminders.snooze_button, pattern=reminders.SNOOZE_PATTERN))
    # questions: /ask anywhere; free text in private chats; in groups only when @mentioned or replied to
    app.add_handler(CommandHandler("ask", qa.ask))
    app.add_handler(MessageHandler(filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, qa.private_question))
    app.add_handler(
        MessageHandler(
            filters.ChatType.GROUPS & filters.TEXT & ~filters.COMMAND & qa.ADDRESSED_TO_BOT, qa.group_question
        )
    )
    # buttons: related topics; anything else (stale or forged data) is answered with a short note
    app.add_handler(CallbackQueryHandler(qa.related_button, pattern=keyboards.RELATED_PATTERN))
    app.add_handler(CallbackQueryHandler(qa.unknown_button))
    # a command nobody above took, in a private chat (in groups it may be meant for another bot)
    app.add_handler(MessageHandler(filters.ChatType.PRIVATE & filters.COMMAND, start.unknown_command))
    # failures: logged with the update id, the user gets one polite sorry
    app.add_error_handler(errors.on_error)


async def _publish_commands(app: Application) -> None:
    """The command menu; cosmetic, so a failure is logged and start-up goes on."""
    try:
        await app.bot.set_my_commands([BotCommand(name, description) for name, description in texts.COMMANDS])
    except TelegramError as error:
        logger.warning("could not set the command menu: %s", error)


def _start_reminders(app: Application, settings: Settings) -> None:
    """The reminder runner: APScheduler jobs that plan reminders and deliver due ones through this bot."""
    quiet = _quiet_hours(settings)
    policy = DeliveryPolicy(
        interval=settings.delivery_interval,
        plan_interval=settings.plan_interval,
        lease=settings.delivery_lease,
        batch=settings.delivery_batch,
        concurrency=settings.delivery_concurrency,
        send_timeout=settings.send_timeout,
        quiet_hours=quiet,
        default_timezone=settings.timezone_name,
    )
    runner = ReminderRunner(
        app.bot_data[common.SESSIONS_KEY],
        TelegramNotifier(app.bot, timeout=settings.send_timeout),
        policy=policy,
        planner=functools.partial(plan, quiet=quiet),  # the planner schedules around the same quiet hours
        pacer=Pacer(overall_rate=settings.send_rate),
    )
    app.bot_data[_RUNNER_KEY] = runner
    app.bot_data[common.REPLAN_KEY] = runner.plan_branch_soon
    runner.start()


def _quiet_hours(settings: Settings) -> QuietHours | None:
    """One QuietHours for the planner, delivery and the 稍后提醒 button (PARTYBOT_QUIET_HOURS; None when off)."""
    return QuietHours(*settings.quiet_hours) if settings.quiet_hours else None


async def _stop_reminders(app: Application) -> None:
    """Stop the runner while the bot can still send (in-flight reminders finish and are recorded)."""
    app.bot_data.pop(common.REPLAN_KEY, None)
    runner = app.bot_data.pop(_RUNNER_KEY, None)
    if runner is not None:
        await runner.stop()


async def _shut_down(app: Application) -> None:
    await _stop_reminders(app)  # if start-up failed after starting it, post_stop was never called
    engine = app.bot_data.pop(_ENGINE_KEY, None)
    if engine is not None:
        await engine.dispose()


@asynccontextmanager
async def serving(app: Application) -> AsyncIterator[Application]:
    """Run ``app`` without an updater, with the same start-up and shut-down hooks as `run_polling`.

    Feed it with ``await app.update_queue.put(update)``: that goes through the update processor like polling and
    webhook updates do (concurrent, each user's in order), and ``await app.update_queue.join()`` waits until every
    queued update is processed. ``await app.process_update(update)`` handles one update at once, bypassing the
    processor (the console and most tests: one update at a time).
    """
    await app.initialize()
    try:
        if app.post_init is not None:
            await app.post_init(app)
        await app.start()
        try:
            yield app
        finally:
            await app.stop()
            if app.post_stop is not None:
                await app.post_stop(app)
    finally:
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)


def run_polling(settings: Settings) -> None:
    """Long-poll Telegram until SIGINT/SIGTERM; pending updates are kept and answered after a restart."""
    if settings.telegram_bot_token is None:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs request URLs, which contain the token
    build_application(settings, deliver_reminders=True).run_polling(
        allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False
    )


def run_webhook(settings: Settings) -> None:
    """Serve Telegram's webhook (PTB's server) until SIGINT/SIGTERM: how several instances share one token.

    Telegram posts updates to PARTYBOT_WEBHOOK_URL; a load balancer forwards them to any instance listening on
    PARTYBOT_WEBHOOK_LISTEN:PARTYBOT_WEBHOOK_PORT at the URL's path. Requests without the secret token header
    are refused (403). Each instance registers the same webhook at start-up and leaves it in place at exit.
    """
    if settings.telegram_bot_token is None:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set")
    if settings.webhook_url is None:
        raise ConfigError("PARTYBOT_WEBHOOK_URL is not set (the public https:// address for Telegram's updates)")
    if settings.webhook_secret is None:
        raise ConfigError("PARTYBOT_WEBHOOK_SECRET is not set (1–256 characters of A-Z a-z 0-9 _ -)")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    build_application(settings, deliver_reminders=True).run_webhook(
        listen=settings.webhook_listen,
        port=settings.webhook_port,
        url_path=urlsplit(settings.webhook_url).path.lstrip("/"),
        webhook_url=settings.webhook_url,
        secret_token=webhook_secret_token(settings),  # compared in constant time: bot/secrecy.py
        allowed_updates=ALLOWED_UPDATES,
        drop_pending_updates=False,
    )
