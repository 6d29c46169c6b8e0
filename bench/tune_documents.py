"""The tuning loop's measure for uploaded documents: each document of tests/data/tune_documents (never the held-out
tests/data/documents) stored as `partybot kb add` stores it, its questions asked, beside the plain baseline.

Usage: python bench/tune_documents.py [name ...] [-v] [--validation]

``-v`` lists each miss with the passage answered (or "declined") and the baseline's verdict. ``--validation`` reads
tests/data/validation_documents instead: documents written to check the tuning, frozen and never tuned on (print
its figures, not its misses).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import qa_sets
from bench.qa import baseline_document_ask, document_texts, stored_document_answerer
from bench.qa_sets import Score

TUNING = qa_sets.DATA / "tune_documents"
VALIDATION = qa_sets.DATA / "validation_documents"


def measure(name: str, verbose: bool, folder: Path = TUNING) -> tuple[Score, Score, Score, int]:
    """partybot's answered and declined scores, the baseline's answered score, and how many answerable questions
    the ranking alone puts the right passage first for."""
    path, rows = qa_sets.document_rows(name, folder)
    answerer = asyncio.run(stored_document_answerer(path))
    texts = document_texts(answerer)
    answered, declined = qa_sets.score_document(
        name, rows, lambda q: qa_sets.reply_of(answerer.answer(q)), lambda key: texts.get(key, "")
    )
    base_ask, base_texts = baseline_document_ask(path)
    base, _ = qa_sets.score_document(name, rows, base_ask, lambda key: base_texts.get(key, ""))
    ranked_right = 0
    for row in rows:
        if row["answer_has"] is not None:
            first = next((c.key for c in answerer.rank(row["q"]) if c.key in texts), None)
            ranked_right += first is not None and qa_sets.squash(row["answer_has"]) in qa_sets.squash(texts[first])
    if verbose:
        for question in answered.misses:
            answer = answerer.answer(question)
            if not answer.found:
                got = "declined"
            elif answer.candidates:
                got = qa_sets.squash(texts.get(answer.candidates[0].key, ""))[:60]
            else:
                got = "worked out by a calculator"
            print(f"  MISS{'' if question in base.misses else ' (baseline right)'} {question} -> {got}")
        for question in declined.misses:
            candidates = answerer.answer(question).candidates
            got = qa_sets.squash(texts.get(candidates[0].key, ""))[:60] if candidates else "worked out by a calculator"
            print(f"  ANSWERED {question} -> {got}")
    return answered, declined, base, ranked_right


def main() -> None:
    folder = VALIDATION if "--validation" in sys.argv else TUNING
    verbose = "-v" in sys.argv and folder is TUNING
    names = [a for a in sys.argv[1:] if not a.startswith("-")] or sorted(
        p.name.removesuffix("_questions.jsonl") for p in folder.glob("*_questions.jsonl")
    )
    for name in names:
        answered, declined, base, ranked = measure(name, verbose, folder)
        print(
            f"{name}: answered right {answered.right}/{answered.total} ({answered.rate:.1%}),"
            f" ranked first {ranked / answered.total:.1%}, baseline {base.rate:.1%};"
            f" declined {declined.right}/{declined.total}"
        )


if __name__ == "__main__":
    main()
