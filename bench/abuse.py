"""Abuse benchmark (issue 9): what hostile files and a flooding stranger cost, against the targets.

Usage: python bench/abuse.py [--files-only | --flood-only] [--runs N]

Hostile files. Each file from tests/hostile_files.py goes through the path the bot uses
(bot.services.untrusted_files: a child process with a time and memory limit, then knowledge.ingest or
bot.services.roster_file inside it). Printed per file: its size, the outcome, the wall time the bot waits (child
start included), the child's peak resident memory, and how much the bot's own process grew (it should not).
Target: every hostile file refused in < 2 s and < 200 MB.

Flood. The production Application (PerUserOrderedProcessor with 64 slots, the FloodGuard, PTB's AIORateLimiter as
ReplyRateLimiter, SQLite, the curated knowledge) over the in-process Bot API, each call answered after 50 ms (as
Telegram does, 50–300 ms). Measured in the same run: the time from another user's private question to his answer,
alone (baseline) and queued right behind 500 @mentions a stranger sent in their own group (each run a new stranger
and group). The delay is the flood's median minus the baseline's. Target: < 1 s. Prints, never asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from telegram import Update  # noqa: E402

from bot.app import RATE_LIMIT_RETRIES, build_application, serving  # noqa: E402
from bot.bot_api_objects import group_chat, make_user  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.notifier import ReplyRateLimiter  # noqa: E402
from bot.services import untrusted_files  # noqa: E402
from bot.transport import DEFAULT_BOT_USERNAME, BotApiSimulator, InProcessBotApi  # noqa: E402
from bot.update_order import PerUserOrderedProcessor  # noqa: E402
from knowledge.answer import Answerer  # noqa: E402
from knowledge.curated import load_curated  # noqa: E402
from tests import hostile_files  # noqa: E402

FILE_TARGET_SECONDS, FILE_TARGET_MB = 2.0, 200
FLOOD = 500
FLOOD_TARGET_SECONDS = 1.0
API_LATENCY = 0.05  # seconds per Bot API call
ASKER = make_user(1002, "王芳")
QUESTION = "党员大会多久开一次"

# --- hostile files ----------------------------------------------------------------------------------------------

CASES: list[tuple[str, str, str, Callable[[], bytes]]] = [  # (label, job, file name, make)
    ("zip bomb .docx (50 MB of XML)", "document", "bomb.docx", hostile_files.zip_bomb_docx),
    ("zip bomb .xlsx (50 MB of XML)", "roster", "bomb.xlsx", hostile_files.zip_bomb_xlsx),
    ("dimension bomb .xlsx (A1:XFD1048576)", "roster", "dimension.xlsx", hostile_files.dimension_bomb_xlsx),
    ("quadratic heading .md (20,000 spaces)", "document", "heading.md", hostile_files.quadratic_heading_md),
    ("1 MB .txt of short numbered items", "document", "items.txt", hostile_files.huge_text_many_items),
    ("1 MB .txt in one line", "document", "line.txt", hostile_files.huge_text_one_line),
    ("6 MB .txt of 3 million lines", "document", "lines.txt", lambda: b"x\n" * 3_000_000),
]


def own_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure(job: str, filename: str, data: bytes) -> tuple[str, float, float]:
    """(outcome, seconds, the child's peak MB)."""
    limits = untrusted_files.DOCUMENT_LIMITS if job == "document" else untrusted_files.ROSTER_LIMITS
    header: dict[str, object] = {"filename": filename, "title": None} if job == "document" else {"filename": filename}
    started = time.perf_counter()
    try:
        answer = await untrusted_files._run_child(job, header, data, limits)
    except untrusted_files._ChildFailed as failure:
        return f"killed: {failure}", time.perf_counter() - started, float("nan")
    seconds = time.perf_counter() - started
    refused = answer.get("refused")
    if refused is None:
        outcome = f"read: {len(answer.get('passages', answer.get('rows', [])))} passages/rows"
    else:
        outcome = "refused: " + (refused if isinstance(refused, str) else refused[0][1])
    return outcome, seconds, answer["peak_kb"] / 1024


async def files() -> None:
    print(f"{'file':40} {'size':>9} {'seconds':>8} {'child MB':>9} {'bot +MB':>8}  outcome")
    for label, job, filename, make in CASES:
        data = make()
        before = own_peak_mb()
        outcome, seconds, peak = await measure(job, filename, data)
        grown = own_peak_mb() - before
        print(f"{label:40} {len(data):>9,} {seconds:>8.2f} {peak:>9.0f} {grown:>8.0f}  {outcome[:70]}")
    print(f"target: every hostile file refused in < {FILE_TARGET_SECONDS:.0f} s and < {FILE_TARGET_MB} MB")


# --- a flooding stranger ----------------------------------------------------------------------------------------


class LatentBotApi(InProcessBotApi):
    """The in-process Bot API, answering every call after API_LATENCY seconds."""

    async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        await asyncio.sleep(API_LATENCY)
        return await super().do_request(url, method, *args, **kwargs)


def _answered(api: BotApiSimulator, user_id: int, before: int) -> bool:
    return any(
        call.ok and call.method == "sendMessage" and call.params.get("chat_id") == user_id
        for call in api.calls[before:]
    )


async def _ask_and_time(app: Any, api: BotApiSimulator, flood_from: int | None) -> tuple[float, int]:
    """Seconds until ASKER's answer, and how many of the stranger's updates were still queued then."""
    if flood_from is not None:
        stranger = make_user(flood_from, "陌生人")
        group = group_chat(-1009000000 - flood_from, "陌生人的群")
        for _ in range(FLOOD):
            update = api.user_message(f"@{DEFAULT_BOT_USERNAME} 支委会多久开一次", user=stranger, chat=group)
            await app.update_queue.put(Update.de_json(update, app.bot))
    before = len(api.calls)
    started = time.perf_counter()
    await app.update_queue.put(Update.de_json(api.user_message(QUESTION, user=ASKER), app.bot))
    while not _answered(api, ASKER["id"], before):  # noqa: ASYNC110 (polls what the simulated Telegram received)
        await asyncio.sleep(0.001)
    seconds = time.perf_counter() - started
    processor = app.update_processor
    queued = processor.queued_updates if isinstance(processor, PerUserOrderedProcessor) else -1
    await app.update_queue.join()
    return seconds, queued


async def flood(runs: int) -> None:
    answerer = Answerer(load_curated())
    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, TELEGRAM_BOT_TOKEN="", DATABASE_URL=f"sqlite+aiosqlite:///{directory}/bench.db"
        )
        api = BotApiSimulator()
        app = build_application(
            settings,
            request=LatentBotApi(api),
            answerer=answerer,
            rate_limiter=ReplyRateLimiter(max_retries=RATE_LIMIT_RETRIES),
            flood_guard=True,
        )
        async with serving(app):
            await _ask_and_time(app, api, None)  # warm-up
            baseline, flooded, queued = [], [], []
            for run in range(runs):
                baseline.append((await _ask_and_time(app, api, None))[0])
                seconds, still_queued = await _ask_and_time(app, api, 66000 + run)
                flooded.append(seconds)
                queued.append(still_queued)
                await asyncio.sleep(0.5)  # the asker's own rate limit: 10 at once, then one every 3 s
            processor = app.update_processor
            dropped = processor.dropped if isinstance(processor, PerUserOrderedProcessor) else 0
    base, with_flood = statistics.median(baseline), statistics.median(flooded)
    delay = with_flood - base
    print(f"\nanother user's answer, {runs} runs each, Bot API latency {API_LATENCY * 1000:.0f} ms per call")
    print(f"  baseline (no flood):            median {base:.3f} s  max {max(baseline):.3f} s")
    print(f"  behind {FLOOD} stranger mentions:    median {with_flood:.3f} s  max {max(flooded):.3f} s")
    print(f"  delay added by the flood:       {delay:.3f} s (median), {max(flooded) - base:.3f} s (worst)")
    print(f"  stranger updates still queued when he was answered: {statistics.median(queued):.0f} (median)")
    print(f"  stranger updates dropped unprocessed (over the per-user queue cap): {dropped}")
    verdict = "met" if max(flooded) - base < FLOOD_TARGET_SECONDS else "MISSED"
    print(f"target: another user's answer delayed < {FLOOD_TARGET_SECONDS:.0f} s by a 500-mention flood ({verdict})")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--files-only", action="store_true")
    only.add_argument("--flood-only", action="store_true")
    parser.add_argument("--runs", type=int, default=5, help="flood and baseline runs (default 5)")
    args = parser.parse_args()
    if not args.flood_only:
        await files()
    if not args.files_only:
        await flood(args.runs)


if __name__ == "__main__":
    asyncio.run(main())
