"""Hostile uploads: the time and peak memory each costs before it is refused (or read within bounds).

Usage: python bench/abuse_files.py

Each file from tests/hostile_files.py goes through the path the bot uses (bot.services.untrusted_files: a child
process with a time and memory limit, then knowledge.ingest or bot.services.roster_file inside it). Printed per file:
its size, the outcome, the wall time the bot waits (child start included), the child's peak resident memory, and
how much the bot's own process grew (it should not). Targets (issue 9): every hostile file refused in < 2 s and
< 200 MB. Prints, never asserts.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.services import untrusted_files  # noqa: E402
from tests import hostile_files  # noqa: E402

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


async def main() -> None:
    print(f"{'file':40} {'size':>9} {'seconds':>8} {'child MB':>9} {'bot +MB':>8}  outcome")
    for label, job, filename, make in CASES:
        data = make()
        before = own_peak_mb()
        outcome, seconds, peak = await measure(job, filename, data)
        grown = own_peak_mb() - before
        print(f"{label:40} {len(data):>9,} {seconds:>8.2f} {peak:>9.0f} {grown:>8.0f}  {outcome[:70]}")


if __name__ == "__main__":
    asyncio.run(main())
