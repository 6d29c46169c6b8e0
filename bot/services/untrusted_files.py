"""Uploaded files are parsed in a child process, with a time limit and a memory limit.

A document for /kb or `partybot kb add` (knowledge.ingest), a roster for /import or `partybot members import`
(bot.services.roster_file): whatever a file does to its parser (a zip bomb, a sheet that claims 16,384 columns, a
PDF that never ends), it does to a fresh Python process that

- cannot map more than ``Limits.memory_bytes`` (RLIMIT_AS; the allocation that would pass it fails),
- is killed when ``Limits.seconds`` have passed (and RLIMIT_CPU stops it should the bot itself die first),
- runs at most ``PARALLEL_PARSES`` at a time per event loop.

The bot awaits the child without blocking the event loop and without a database session: callers parse first and
open their transaction after. The answer comes back as JSON on stdout, never as a pickle: a child subverted by its
input must not be able to run code in the bot. A file the parser refuses raises the parser's own error
(IngestError, RosterError) with its Chinese message; running out of time or memory, or any other death of the
child, raises the same error type with the message that the file is too complex.

The child is ``python -I -c _CHILD JOB SECONDS BYTES``; it reads one JSON header line and then the file's bytes
on stdin.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import resource
import sys
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from knowledge.ingest import ParsedDocument

logger = logging.getLogger(__name__)

PARALLEL_PARSES = 2
_ROOT = Path(__file__).resolve().parents[2]  # where the bot package lives, for the child's sys.path
_CHILD = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); from bot.services.untrusted_files import child_main; child_main()"
)
_MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """What one parse may take: wall-clock seconds, and the child's address space (of which the parsers' libraries
    alone map about 60 MB for documents, 180 MB for rosters)."""

    seconds: float = 30.0
    memory_bytes: int = 512 * _MB


DOCUMENT_LIMITS = Limits(seconds=30.0, memory_bytes=512 * _MB)
ROSTER_LIMITS = Limits(seconds=10.0, memory_bytes=384 * _MB)


class _ChildFailed(Exception):
    """The child ran out of time or memory, died, or answered something that is not a result."""


# --- the bot's side ------------------------------------------------------------------------------------------------


async def parse_document(
    data: bytes, filename: str, title: str | None, *, limits: Limits = DOCUMENT_LIMITS
) -> ParsedDocument:
    """knowledge.ingest.parse_bytes in a child process; IngestError for a file refused or too complex."""
    from knowledge.ingest import MSG_TOO_COMPLEX, IngestError, ParsedDocument, ParsedPassage

    try:
        answer = await _run_child("document", {"filename": filename, "title": title}, data, limits)
        if "refused" in answer:
            refusal = _text(answer["refused"])
        else:
            passages = tuple(
                ParsedPassage(tuple(map(_text, _list(path))), _text(text))
                for path, text in map(_list, _list(answer["passages"]))
            )
            return ParsedDocument(title=_text(answer["title"]), passages=passages)
    except (_ChildFailed, KeyError, TypeError, ValueError) as failure:
        raise IngestError(MSG_TOO_COMPLEX) from failure
    raise IngestError(refusal)


async def read_roster_rows(
    filename: str, content: bytes, *, limits: Limits = ROSTER_LIMITS
) -> list[tuple[int, list[str]]]:
    """bot.services.roster_file.roster_rows in a child process; RosterError for a file refused or too complex."""
    from bot.services.roster_file import MSG_TOO_COMPLEX, RosterError, RosterProblem, refuse

    try:
        answer = await _run_child("roster", {"filename": filename}, content, limits)
        if "refused" in answer:
            problems = [
                RosterProblem(None if line is None else _int(line), _text(message))
                for line, message in map(_list, _list(answer["refused"]))
            ]
        else:
            return [(_int(line), list(map(_text, _list(cells)))) for line, cells in map(_list, _list(answer["rows"]))]
    except (_ChildFailed, KeyError, TypeError, ValueError) as failure:
        raise refuse(MSG_TOO_COMPLEX) from failure
    raise RosterError(problems)


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return value


_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _parse_slots() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    if loop not in _slots:
        _slots[loop] = asyncio.Semaphore(PARALLEL_PARSES)
    return _slots[loop]


async def _run_child(job: str, header: dict[str, object], data: bytes, limits: Limits) -> dict[str, Any]:
    """The child's JSON answer to ``job`` on ``data``; _ChildFailed if it gives none within its limits."""
    async with _parse_slots():
        started = time.perf_counter()
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",  # no environment variables, user site or current directory on the child's path
            "-c",
            _CHILD,
            str(_ROOT),
            job,
            repr(limits.seconds),
            str(limits.memory_bytes),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        message = json.dumps(header, ensure_ascii=False).encode() + b"\n" + data
        try:
            stdout, stderr = await asyncio.wait_for(child.communicate(message), limits.seconds)
        except TimeoutError:
            logger.info("%s parse killed after %.1f s (%s bytes)", job, time.perf_counter() - started, len(data))
            raise _ChildFailed("time limit") from None
        finally:
            if child.returncode is None:  # timed out, or the awaiting task was cancelled
                child.kill()
                await child.wait()
        seconds = time.perf_counter() - started
        try:
            answer = json.loads(stdout)
        except ValueError:
            answer = None
        if child.returncode != 0 or not isinstance(answer, dict) or "failed" in answer:
            reason = answer.get("failed") if isinstance(answer, dict) else f"exit {child.returncode}"
            logger.info(
                "%s parse failed after %.1f s: %s %s", job, seconds, reason, stderr[-500:].decode(errors="replace")
            )
            raise _ChildFailed(str(reason))
        logger.info(
            "%s parsed in %.2f s, peak %d MB, %s",
            job,
            seconds,
            answer.get("peak_kb", 0) // 1024,
            "refused" if "refused" in answer else "ok",
        )
        return answer


# --- the child's side ----------------------------------------------------------------------------------------------


def _document_job(header: dict[str, Any], data: bytes) -> dict[str, object]:
    from knowledge.ingest import IngestError, parse_bytes

    try:
        parsed = parse_bytes(data, str(header["filename"]), header.get("title"))
    except IngestError as refusal:
        return {"refused": str(refusal)}
    return {"title": parsed.title, "passages": [[list(p.heading_path), p.text] for p in parsed.passages]}


def _roster_job(header: dict[str, Any], data: bytes) -> dict[str, object]:
    from bot.services.roster_file import RosterError, roster_rows

    try:
        rows = roster_rows(str(header["filename"]), data)
    except RosterError as refusal:
        return {"refused": [[problem.line, problem.message] for problem in refusal.problems]}
    return {"rows": [[line, cells] for line, cells in rows]}


_JOBS = {"document": _document_job, "roster": _roster_job}


def child_main() -> None:
    """Entry point of the child process: limit itself, run the job, print one JSON object."""
    job, seconds, memory = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = math.ceil(seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    header = json.loads(sys.stdin.buffer.readline())
    data = sys.stdin.buffer.read()
    try:
        answer = _JOBS[job](header, data)
    except MemoryError:
        answer = {"failed": "memory limit"}
    answer["peak_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.stdout.buffer.write(json.dumps(answer, ensure_ascii=False).encode())
    sys.stdout.flush()
