"""The tuning loop's measure: how the curated knowledge does on one tuning set (never on the blind sets).

Usage: python bench/tune.py [tune|tune2|tune3] [-v]

Prints ranking top-1 (no confidence gate) and answered-right (with it) on the set's rules.jsonl and new_topics.jsonl,
and the share of its out_of_kb.jsonl that gets an answer (lower is better). ``-v`` lists the misses with the expected
domain-facts rows and the entries ranked first, and the uncovered questions that were answered. Vocabulary, entries
and thresholds are tuned against these sets; bench/qa.py reports the held-out ones.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import qa_sets
from knowledge.answer import Answerer
from knowledge.curated import load_curated


def main() -> None:
    name = next((a for a in sys.argv[1:] if not a.startswith("-")), "tune")
    verbose = "-v" in sys.argv
    folder = qa_sets.DATA / name
    passages = load_curated()
    answerer = Answerer(passages)
    facts = {p.key: set(p.facts) for p in passages}
    rows = [(r["q"], set(r["facts"])) for r in qa_sets.load_jsonl(folder / "rules.jsonl")]
    if (folder / "new_topics.jsonl").exists():
        rows += [
            (r["q"], {r["topic"], *qa_sets.TOPIC_FACTS.get(r["topic"], ())})
            for r in qa_sets.load_jsonl(folder / "new_topics.jsonl")
        ]
    uncovered = [r["q"] for r in qa_sets.load_jsonl(folder / "out_of_kb.jsonl")]

    ranked_right = answered_right = 0
    misses = []
    for question, expected in rows:
        ranked = answerer.rank(question, limit=3)
        ranked_right += bool(ranked) and bool(facts.get(ranked[0].key, set()) & expected)
        answer = answerer.answer(question)
        right = answer.found and (not answer.candidates or bool(facts.get(answer.candidates[0].key, set()) & expected))
        answered_right += right
        if not right:
            misses.append((question, sorted(expected), [c.key for c in ranked], answer.found))
    answered = [q for q in uncovered if answerer.answer(q).found]
    print(f"{name}: {len(rows)} questions: ranking top-1 {ranked_right / len(rows):.1%}, ", end="")
    print(f"answered right {answered_right / len(rows):.1%}")
    print(f"  {len(uncovered)} uncovered questions: answered {len(answered) / len(uncovered):.1%}")
    if verbose:
        for miss in misses:
            print("MISS", *miss)
        for question in answered:
            print("UNCOVERED-ANSWERED", question, [c.key for c in answerer.answer(question).candidates[:1]])


if __name__ == "__main__":
    main()
