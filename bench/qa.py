"""Question-answering benchmark: partybot against a plain jieba + BM25Plus baseline, set by set, in one run.

Usage: python bench/qa.py [--repeat N] [--cold-runs N] [--misses]

Sets (bench/qa_sets.py says what each holds and who wrote it): the development set, the blind rule set, the blind
multi-part set, the blind new-topic set, the out-of-knowledge set, and two documents uploaded as-is (the same path
as ``partybot kb add``) with their questions. Each system runs in its own subprocess so peak RSS and build time are
its own. The baseline ranks curated entries (heading, phrasings and text) with jieba + rank_bm25.BM25Plus and calls
an answer found when the best entry shares a two-character word with the question; for a document it ranks the
document's paragraphs with no threshold at all. Last, the cold start of a `partybot ask` process against a process
that only loads jieba.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import qa_sets  # noqa: E402
from bench.qa_sets import Reply, Score  # noqa: E402

if TYPE_CHECKING:
    from knowledge.answer import Answerer


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Timed:
    """Wraps an ask function, recording each call's latency in milliseconds."""

    def __init__(self, ask: Callable[[str], Reply]) -> None:
        self.ask = ask
        self.latencies: list[float] = []

    def __call__(self, question: str) -> Reply:
        started = time.perf_counter()
        reply = self.ask(question)
        self.latencies.append((time.perf_counter() - started) * 1000)
        return reply


# -- partybot -----------------------------------------------------------------------------------------------------


async def stored_document_answerer(path: Path) -> Answerer:
    """The document stored as `partybot kb add` stores it (shared by every branch), then the bot's Answerer."""
    from bot.db import open_database
    from bot.services.knowledge_base import add_document, build_answerer
    from knowledge.ingest import parse_file

    with tempfile.TemporaryDirectory() as folder:
        async with open_database(f"sqlite+aiosqlite:///{folder}/bench.db") as sessions:
            async with sessions() as session:
                await add_document(session, parse_file(path), path.name)
            return await build_answerer(sessions)


def run_partybot(repeat: int) -> dict:
    from knowledge.analyzer import shared_analyzer
    from knowledge.answer import Answerer
    from knowledge.curated import load_curated

    started = time.perf_counter()
    shared_analyzer()
    loaded = time.perf_counter()
    passages = load_curated()
    answerer = Answerer(passages)
    built = time.perf_counter()
    facts = {p.key: p.facts for p in passages}

    timed = Timed(lambda q: qa_sets.reply_of(answerer.answer(q)))
    scores = _score_curated_sets(timed, facts.get)
    scores += _score_ranking_alone(lambda q: tuple(c.key for c in answerer.rank(q, limit=3)), facts.get)
    for name in qa_sets.available_documents():
        path, rows = qa_sets.document_rows(name)
        document_answerer = asyncio.run(stored_document_answerer(path))
        texts = document_texts(document_answerer)
        ask = Timed(lambda q, a=document_answerer: qa_sets.reply_of(a.answer(q)))
        scores += qa_sets.score_document(f"document {name}", rows, ask, lambda k, t=texts: t.get(k, ""))
        timed.latencies += ask.latencies
    return _summary("partybot", scores, timed, repeat, loaded - started, built - loaded)


def document_texts(answerer: Answerer) -> dict[str, str]:
    """Each uploaded passage's text by key (the curated entries left out)."""
    return {key: answerer.passage(key).text for key in answerer.passage_keys() if key.startswith("kb")}


# -- baseline -----------------------------------------------------------------------------------------------------


class PlainBM25:
    """jieba words + rank_bm25.BM25Plus over texts; the best text is the answer."""

    def __init__(self, keys: list[str], texts: list[str]) -> None:
        import jieba
        from rank_bm25 import BM25Plus

        self._jieba = jieba
        self.keys = keys
        corpus = [jieba.lcut(text) for text in texts]
        self._bm25 = BM25Plus(corpus)
        self._vocabularies = [set(words) for words in corpus]

    def ranked(self, question: str) -> tuple[list[str], list[str]]:
        tokens = [t for t in self._jieba.lcut(question) if t.strip()]
        if not tokens:
            return tokens, []
        scores = self._bm25.get_scores(tokens)
        order = sorted(range(len(self.keys)), key=lambda i: scores[i], reverse=True)[:10]
        return tokens, [self.keys[i] for i in order]

    def shares_word(self, tokens: list[str], key: str) -> bool:
        vocabulary = self._vocabularies[self.keys.index(key)]
        return any(len(t) >= 2 and t in vocabulary for t in tokens)


def run_baseline(repeat: int) -> dict:
    import jieba

    from knowledge.curated import load_curated

    started = time.perf_counter()
    jieba.setLogLevel(60)
    jieba.initialize()
    loaded = time.perf_counter()
    passages = load_curated()
    plain = PlainBM25([p.key for p in passages], [" ".join((p.section, *p.phrasings, p.text)) for p in passages])
    built = time.perf_counter()
    facts = {p.key: p.facts for p in passages}

    def ask(question: str) -> Reply:
        tokens, ranked = plain.ranked(question)
        return Reply(bool(ranked) and plain.shares_word(tokens, ranked[0]), tuple(ranked))

    timed = Timed(ask)
    scores = _score_curated_sets(timed, facts.get)
    scores += _score_ranking_alone(lambda q: tuple(plain.ranked(q)[1]), facts.get)
    for name in qa_sets.available_documents():
        path, rows = qa_sets.document_rows(name)
        ask_document, texts = baseline_document_ask(path)
        scores += qa_sets.score_document(f"document {name}", rows, ask_document, lambda k, t=texts: t.get(k, ""))
        timed.latencies += ask_document.latencies
    return _summary("baseline", scores, timed, repeat, loaded - started, built - loaded)


def baseline_document_ask(path: Path) -> tuple[Timed, dict[str, str]]:
    """The baseline for a document: its paragraphs ranked by BM25Plus, the best always answering; with their texts."""
    paragraphs = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    keys = [f"p{i}" for i in range(len(paragraphs))]
    document = PlainBM25(keys, paragraphs)
    return Timed(lambda q: Reply(True, tuple(document.ranked(q)[1]))), dict(zip(keys, paragraphs, strict=True))


# -- shared -------------------------------------------------------------------------------------------------------


def _no_facts_as_empty(facts_of: Callable[[str], tuple[str, ...] | None]) -> Callable[[str], tuple[str, ...]]:
    """A key the facts map lacks (a document passage, a calculator) states no fact."""
    return lambda key: facts_of(key) or ()


def _score_curated_sets(ask: Timed, facts_of: Callable[[str], tuple[str, ...] | None]) -> list[Score]:
    facts = _no_facts_as_empty(facts_of)

    dev = [r for r in qa_sets.load_dev() if not str(r["expect"]).startswith(("calc:", "not-calc"))]
    blind = qa_sets.BLIND_DIR
    return [
        *qa_sets.score_dev("development", dev, ask),
        qa_sets.score_facts("blind rules", qa_sets.load_jsonl(blind / "rules.jsonl"), ask, facts),
        qa_sets.score_parts("blind multi-part", qa_sets.load_jsonl(blind / "multipart.jsonl"), ask, facts),
        qa_sets.score_facts("blind new topics", qa_sets.load_jsonl(blind / "new_topics.jsonl"), ask, facts, "topic"),
        qa_sets.score_declines("out-of-knowledge declined", qa_sets.load_jsonl(blind / "out_of_kb.jsonl"), ask),
    ]


def _score_ranking_alone(
    ranked: Callable[[str], tuple[str, ...]], facts_of: Callable[[str], tuple[str, ...] | None]
) -> list[Score]:
    """The blind rule and new-topic sets by the first-ranked entry alone: no confidence gate, no calculators. The
    gated rows above count a decline as a miss; these show how much of a gap to the baseline is the ranking."""
    facts = _no_facts_as_empty(facts_of)

    def ask(question: str) -> Reply:
        return Reply(True, ranked(question))

    blind = qa_sets.BLIND_DIR
    return [
        qa_sets.score_facts("blind rules, ranking", qa_sets.load_jsonl(blind / "rules.jsonl"), ask, facts),
        qa_sets.score_facts(
            "blind new topics, ranking", qa_sets.load_jsonl(blind / "new_topics.jsonl"), ask, facts, "topic"
        ),
    ]


def _summary(system: str, scores: list[Score], timed: Timed, repeat: int, load_s: float, build_s: float) -> dict:
    questions = [q for q in _all_questions()]
    for _ in range(repeat - 1):  # the scoring pass was the first
        for question in questions:
            timed(question)
    latencies = timed.latencies
    return {
        "system": system,
        "scores": [{"name": s.name, "right": s.right, "total": s.total, "misses": s.misses} for s in scores],
        "p50_ms": statistics.median(latencies),
        "p99_ms": _percentile(latencies, 0.99),
        "load_s": load_s,
        "build_s": build_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _all_questions() -> list[str]:
    rows = [*qa_sets.load_dev()]
    for path in sorted(qa_sets.BLIND_DIR.glob("*.jsonl")):
        rows += qa_sets.load_jsonl(path)
    return [r["q"] for r in rows]


def calculator_accuracy() -> tuple[int, int]:
    from knowledge.calculators import calculate

    rows = [r for r in qa_sets.load_dev() if str(r["expect"]).startswith(("calc:", "not-calc"))]
    right = 0
    for row in rows:
        result = calculate(row["q"])
        right += ("not-calc" if result is None else f"calc:{result.kind}") == row["expect"]
    return right, len(rows)


def cold_start(runs: int) -> tuple[float, float]:
    """Median wall time of a fresh `partybot ask` process, and of a bare `import jieba; jieba.initialize()`."""
    env = {**os.environ, "DATABASE_URL": "sqlite+aiosqlite:////nonexistent-dir/none.db"}
    ask = [sys.executable, "-m", "bot", "ask", "支委会多久开一次", "--json"]
    floor = [sys.executable, "-c", "import jieba; jieba.setLogLevel(60); jieba.initialize()"]
    results = []
    for command in (ask, floor):
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
            times.append(time.perf_counter() - started)
        results.append(statistics.median(times))
    return results[0], results[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="latency passes over every question")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--misses", action="store_true", help="list partybot's wrong answers per set")
    parser.add_argument("--child", choices=("partybot", "baseline"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run = run_partybot if args.child == "partybot" else run_baseline
        print(json.dumps(run(args.repeat), ensure_ascii=False))
        return
    results = {}
    for system in ("partybot", "baseline"):
        out = subprocess.run(
            [sys.executable, __file__, "--child", system, "--repeat", str(args.repeat)],
            check=True,
            capture_output=True,
            text=True,
        )
        results[system] = json.loads(out.stdout)
    ours, theirs = results["partybot"], results["baseline"]
    print(f"{'set':<28}{'n':>5}{'partybot':>10}{'baseline':>10}")
    for mine, base in zip(ours["scores"], theirs["scores"], strict=True):
        rate = mine["right"] / mine["total"] if mine["total"] else 0.0
        base_rate = base["right"] / base["total"] if base["total"] else 0.0
        print(f"{mine['name']:<28}{mine['total']:>5}{rate:>10.1%}{base_rate:>10.1%}")
    print(f"{'':<33}{'partybot':>10}{'baseline':>10}")
    for label, key, form in (
        ("latency p50 ms", "p50_ms", ".3f"),
        ("latency p99 ms", "p99_ms", ".3f"),
        ("jieba load s", "load_s", ".2f"),
        ("index build s", "build_s", ".3f"),
        ("peak RSS MB", "peak_rss_mb", ".0f"),
    ):
        print(f"{label:<33}{ours[key]:>10{form}}{theirs[key]:>10{form}}")
    right, total = calculator_accuracy()
    print(f"calculators: {right}/{total} development questions routed right")
    ask, floor = cold_start(args.cold_runs)
    print(f"cold `partybot ask` process: median {ask:.2f} s; `import jieba; jieba.initialize()`: {floor:.2f} s")
    print(f"ratio {ask / floor:.2f} (target <= 2)")
    if args.misses:
        for score in ours["scores"]:
            for question in score["misses"]:
                print(f"miss [{score['name']}] {question}")


if __name__ == "__main__":
    main()
