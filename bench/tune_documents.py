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
from bench.qa import PlainBM25, document_keys, stored_document_answerer

TUNING = qa_sets.DATA / "tune_documents"
VALIDATION = qa_sets.DATA / "validation_documents"


def measure(name: str, verbose: bool, folder: Path = TUNING) -> tuple[int, int, int, int, int, int]:
    path = folder / f"{name}.txt"
    rows = qa_sets.load_jsonl(folder / f"{name}_questions.jsonl")
    answerer = asyncio.run(stored_document_answerer(path))
    texts = {key: answerer.passage(key).text for key in document_keys(answerer)}
    paragraphs = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    plain = PlainBM25([str(i) for i in range(len(paragraphs))], paragraphs)
    right = ranked_right = base_right = answerable = declined = unanswerable = 0
    for row in rows:
        answer = answerer.answer(row["q"])
        key = answer.candidates[0].key if answer.candidates else None
        held = texts.get(key, "") if key else ""
        if row["answer_has"] is None:
            unanswerable += 1
            ok = not answer.found or not held
            declined += ok
            if verbose and not ok:
                print(f"  ANSWERED {row['q']} -> {qa_sets.squash(held)[:60]}")
            continue
        answerable += 1
        ok = answer.found and qa_sets.squash(row["answer_has"]) in qa_sets.squash(held)
        plain_first = plain.ranked(row["q"])[1][:1]
        base_ok = bool(plain_first) and qa_sets.squash(row["answer_has"]) in qa_sets.squash(
            paragraphs[int(plain_first[0])]
        )
        first = next((c.key for c in answerer.rank(row["q"]) if c.key in texts), None)
        ranked_right += first is not None and qa_sets.squash(row["answer_has"]) in qa_sets.squash(texts[first])
        right += ok
        base_right += base_ok
        if verbose and not ok:
            got = qa_sets.squash(held)[:60] if answer.found else "declined"
            print(f"  MISS{' (baseline right)' if base_ok else ''} {row['q']} [{row['answer_has']}] -> {got}")
    return right, ranked_right, base_right, answerable, declined, unanswerable


def main() -> None:
    folder = VALIDATION if "--validation" in sys.argv else TUNING
    verbose = "-v" in sys.argv and folder is TUNING
    names = [a for a in sys.argv[1:] if not a.startswith("-")] or sorted(
        p.name.removesuffix("_questions.jsonl") for p in folder.glob("*_questions.jsonl")
    )
    for name in names:
        right, ranked, base, answerable, declined, unanswerable = measure(name, verbose, folder)
        print(
            f"{name}: answered right {right}/{answerable} ({right / answerable:.1%}),"
            f" ranked first {ranked / answerable:.1%}, baseline {base / answerable:.1%};"
            f" declined {declined}/{unanswerable}"
        )


if __name__ == "__main__":
    main()
