"""Regression floors on the held-out sets (bench/qa_sets.py says what each is and who wrote it).

The floors sit a little under the figures bench/qa.py reports for the current code, so a change that makes answers
to questions nobody tuned for worse fails here. They are floors, not targets: the README's Benchmarks section
gives the measured figures and the targets of issue #8.
"""

from __future__ import annotations

import pytest

from bench import qa_sets
from bench.qa_sets import Reply, reply_of
from knowledge.answer import Answerer
from knowledge.curated import load_curated
from tests.knowledge.uploads import uploaded_passages

FLOORS = {
    "blind rules": 0.90,
    "blind multi-part": 0.88,
    "blind new topics": 0.86,
    "out-of-knowledge declined": 0.85,
    "document speech": 0.88,
    "document rules": 0.83,
}


@pytest.fixture(scope="module")
def curated() -> tuple[Answerer, dict[str, tuple[str, ...]]]:
    passages = load_curated()
    return Answerer(passages), {p.key: p.facts for p in passages}


def test_blind_sets_stay_above_their_floors(curated: tuple[Answerer, dict[str, tuple[str, ...]]]) -> None:
    answerer, facts = curated

    def ask(question: str) -> Reply:
        return reply_of(answerer.answer(question))

    def facts_of(key: str) -> tuple[str, ...]:
        return facts.get(key, ())

    blind = qa_sets.BLIND_DIR
    scores = [
        qa_sets.score_facts("blind rules", qa_sets.load_jsonl(blind / "rules.jsonl"), ask, facts_of),
        qa_sets.score_parts("blind multi-part", qa_sets.load_jsonl(blind / "multipart.jsonl"), ask, facts_of),
        qa_sets.score_facts("blind new topics", qa_sets.load_jsonl(blind / "new_topics.jsonl"), ask, facts_of, "topic"),
        qa_sets.score_declines("out-of-knowledge declined", qa_sets.load_jsonl(blind / "out_of_kb.jsonl"), ask),
    ]
    for score in scores:
        assert score.total >= 25, score.name
        assert score.rate >= FLOORS[score.name], (score.name, score.rate, score.misses)


@pytest.mark.parametrize("name", qa_sets.DOCUMENTS)
def test_uploaded_documents_answer_their_questions(name: str) -> None:
    path, rows = qa_sets.document_rows(name)
    passages = uploaded_passages(path)
    answerer = Answerer([*load_curated(), *passages])
    texts = {p.key: p.text for p in passages}
    answered, _ = qa_sets.score_document(
        f"document {name}", rows, lambda q: reply_of(answerer.answer(q)), lambda key: texts.get(key, "")
    )
    assert answered.total >= 30
    assert answered.rate >= FLOORS[f"document {name}"], (answered.rate, answered.misses)
