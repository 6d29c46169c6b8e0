"""Question-answering benchmark: partybot's ranker against a plain jieba + BM25Plus baseline, in one run.

Usage: python bench/qa.py [--repeat N]

Reads the development set in tests/data/dev/*.jsonl ({"q", "expect"}: an entry id, a list of acceptable ids,
null for off-topic, or "calc:dues" / "calc:votes" / "not-calc" for the calculators). Each system runs in its own
subprocess so peak RSS and build time are its own. Prints accuracy, MRR, off-topic rejection, latency
percentiles, index build time and peak RSS for both, then the cold-start time of `partybot ask`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEV_DIR = ROOT / "tests" / "data" / "dev"


def load_dev_set() -> list[dict]:
    rows = []
    for path in sorted(DEV_DIR.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return rows


def _expected(row: dict) -> set[str] | None:
    expect = row["expect"]
    if expect is None:
        return None
    return set(expect) if isinstance(expect, list) else {expect}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def evaluate(system: str, repeat: int) -> dict:
    """Run one system over the dev set (called in a child process)."""
    from knowledge.curated import load_curated

    rows = [r for r in load_dev_set() if not str(r["expect"]).startswith(("calc:", "not-calc"))]
    passages = load_curated()
    started = time.perf_counter()
    if system == "partybot":
        from knowledge.analyzer import shared_analyzer
        from knowledge.answer import Answerer
        from knowledge.calculators import calculate

        shared_analyzer()
        loaded = time.perf_counter()
        answerer = Answerer(passages)

        def ask(question: str) -> tuple[bool, list[str]]:
            answer = answerer.answer(question)
            ranked = [c.key for c in answerer.rank(question, limit=10)]
            if answer.found and not answer.candidates:  # a calculator answered
                ranked = [f"calc:{calculate(question).kind}", *ranked]
            elif answer.found and answer.candidates[:1] != ranked[:1]:  # an ambiguous phrase answered per reading
                ranked = [answer.candidates[0].key, *ranked]
            return answer.found, ranked

        def timed(question: str) -> None:
            answerer.answer(question)
    else:
        import jieba
        from rank_bm25 import BM25Plus

        jieba.setLogLevel(60)
        jieba.initialize()
        loaded = time.perf_counter()
        corpus = [jieba.lcut(" ".join((p.section, *p.phrasings, p.text))) for p in passages]
        bm25 = BM25Plus(corpus)
        vocabularies = [set(doc) for doc in corpus]

        def ask(question: str) -> tuple[bool, list[str]]:
            tokens = [t for t in jieba.lcut(question) if t.strip()]
            if not tokens:
                return False, []
            scores = bm25.get_scores(tokens)
            order = sorted(range(len(passages)), key=lambda i: scores[i], reverse=True)[:10]
            best = order[0]
            found = any(len(t) >= 2 and t in vocabularies[best] for t in tokens)
            return found, [passages[i].key for i in order]

        def timed(question: str) -> None:
            tokens = [t for t in jieba.lcut(question) if t.strip()]
            if tokens:
                bm25.get_scores(tokens)

    built = time.perf_counter()

    top1 = reciprocal = on_topic = rejected = off_topic = 0
    for row in rows:
        expected = _expected(row)
        found, ranked = ask(row["q"])
        if expected is None:
            off_topic += 1
            rejected += not found
            continue
        on_topic += 1
        top1 += found and ranked[0] in expected
        rank = next((i for i, key in enumerate(ranked, 1) if key in expected), None)
        reciprocal += 1 / rank if rank else 0
    latencies = []
    for _ in range(repeat):
        for row in rows:
            t = time.perf_counter()
            timed(row["q"])
            latencies.append((time.perf_counter() - t) * 1000)
    return {
        "system": system,
        "questions": on_topic,
        "off_topic": off_topic,
        "top1": top1 / on_topic,
        "mrr": reciprocal / on_topic,
        "rejection": rejected / off_topic if off_topic else 1.0,
        "p50_ms": statistics.median(latencies),
        "p99_ms": _percentile(latencies, 0.99),
        "load_s": loaded - started,
        "build_s": built - loaded,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def calculator_accuracy() -> tuple[int, int]:
    from knowledge.calculators import calculate

    rows = [r for r in load_dev_set() if str(r["expect"]).startswith(("calc:", "not-calc"))]
    right = 0
    for row in rows:
        result = calculate(row["q"])
        kind = "not-calc" if result is None else f"calc:{result.kind}"
        right += kind == row["expect"]
    return right, len(rows)


def cold_start(runs: int) -> tuple[float, float]:
    """Median wall time of a fresh `partybot ask` process, and of a process that only loads jieba (the floor)."""
    env = {**os.environ, "DATABASE_URL": "sqlite+aiosqlite:////nonexistent-dir/none.db"}
    ask = [sys.executable, "-m", "bot", "ask", "支委会多久开一次", "--json"]
    floor = [sys.executable, "-c", "import jieba; jieba.setLogLevel(60); jieba.lcut('支委会多久开一次')"]
    results = []
    for command in (ask, floor):
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
            times.append(time.perf_counter() - t)
        results.append(statistics.median(times))
    return results[0], results[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="latency passes over the dev set")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--child", choices=("partybot", "baseline"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(evaluate(args.child, args.repeat)))
        return
    results = []
    for system in ("partybot", "baseline"):
        out = subprocess.run(
            [sys.executable, __file__, "--child", system, "--repeat", str(args.repeat)],
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(out.stdout))
    print(f"development set: {results[0]['questions']} questions, {results[0]['off_topic']} off-topic")
    header = f"{'system':<10}{'top-1':>8}{'MRR':>8}{'reject':>8}{'p50 ms':>9}{'p99 ms':>9}"
    header += f"{'jieba s':>9}{'build s':>9}{'RSS MB':>8}"
    print(header)
    for r in results:
        print(
            f"{r['system']:<10}{r['top1']:>8.1%}{r['mrr']:>8.3f}{r['rejection']:>8.1%}{r['p50_ms']:>9.3f}"
            f"{r['p99_ms']:>9.3f}{r['load_s']:>9.2f}{r['build_s']:>9.3f}{r['peak_rss_mb']:>8.0f}"
        )
    right, total = calculator_accuracy()
    print(f"calculators: {right}/{total} questions routed right")
    ask, floor = cold_start(args.cold_runs)
    print(f"cold `partybot ask` process: median {ask:.2f} s (jieba-only process: {floor:.2f} s)")


if __name__ == "__main__":
    main()
