"""The tuning loop's measure: how the curated knowledge does on one tuning set (never on the blind sets).

Usage: python bench/tune.py [tune|tune2|tune3|tune4|tune6|tune7|check5] [-v]

Prints ranking top-1 (no confidence gate) and answered-right (with it) on the set's rules.jsonl and new_topics.jsonl,
and the share of its out_of_kb.jsonl that gets an answer (lower is better). ``-v`` lists the misses with the entries
ranked first and whether anything was answered, and the uncovered questions that were answered. Vocabulary, entries
and thresholds are tuned against these sets; bench/qa.py reports the held-out ones. ``check5`` is a check set,
written after tuning and never tuned on: its figures are printed, never its misses.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import qa_sets
from bench.qa_sets import Reply
from knowledge.answer import Answerer
from knowledge.curated import load_curated

CHECK_SETS = frozenset({"check5"})


def main() -> None:
    name = next((a for a in sys.argv[1:] if not a.startswith("-")), "tune")
    verbose = "-v" in sys.argv and name not in CHECK_SETS
    folder = qa_sets.DATA / name
    passages = load_curated()
    answerer = Answerer(passages)
    facts = {p.key: p.facts for p in passages}

    def facts_of(key: str) -> tuple[str, ...]:
        return facts.get(key, ())

    def ask(question: str) -> Reply:
        return qa_sets.reply_of(answerer.answer(question))

    def ranked(question: str) -> Reply:  # the ranking alone, with no confidence gate
        return Reply(True, tuple(c.key for c in answerer.rank(question, limit=3)))

    rules = qa_sets.load_jsonl(folder / "rules.jsonl")
    topics = qa_sets.load_jsonl(folder / "new_topics.jsonl") if (folder / "new_topics.jsonl").exists() else []
    answered = [qa_sets.score_facts("rules", rules, ask, facts_of)]
    answered.append(qa_sets.score_facts("new topics", topics, ask, facts_of, "topic"))
    first = [qa_sets.score_facts("rules", rules, ranked, facts_of)]
    first.append(qa_sets.score_facts("new topics", topics, ranked, facts_of, "topic"))
    uncovered = qa_sets.score_declines("uncovered", qa_sets.load_jsonl(folder / "out_of_kb.jsonl"), ask)

    total = sum(s.total for s in answered)
    print(f"{name}: {total} questions: ranking top-1 {sum(s.right for s in first) / total:.1%}, ", end="")
    print(f"answered right {sum(s.right for s in answered) / total:.1%}")
    print(f"  {uncovered.total} uncovered questions: answered {1 - uncovered.rate:.1%}")
    if verbose:
        for question in (q for s in answered for q in s.misses):
            print("MISS", question, [c.key for c in answerer.rank(question, limit=3)], answerer.answer(question).found)
        for question in uncovered.misses:
            print("UNCOVERED-ANSWERED", question, [c.key for c in answerer.answer(question).candidates[:1]])


if __name__ == "__main__":
    main()
