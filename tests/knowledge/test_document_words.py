"""A document's own words: found in the document, kept whole for that document only."""

from __future__ import annotations

from bench import qa_sets
from knowledge.analyzer import shared_analyzer
from knowledge.answer import Answerer
from knowledge.curated import load_curated
from knowledge.normalize import normalize_for_match
from tests.knowledge.uploads import uploaded_passages

TUNING = qa_sets.DATA / "tune_documents"


def _own_words(*texts: str) -> frozenset[str]:
    return shared_analyzer().with_document_words([normalize_for_match(t) for t in texts]).own_words


def test_a_recurring_coinage_is_a_word_but_a_word_with_a_neighbours_character_is_not() -> None:
    words = _own_words(
        "今年全面推进柳塘党建云，支部委员每年带头。",
        "各村要把柳塘党建云做实，党员每年参加。",
        "抓好柳塘党建云考核，班子成员每年述职。",
        "年底评比柳塘党建云，群众代表每年评议。",
    )
    assert "柳塘党建云" in words
    # "员每年" recurs with varied neighbours, but it is 党员/委员 with the 员 cut off, then 每年
    assert not any("每年" in word for word in words)


def test_a_documents_own_words_change_no_other_cut() -> None:
    hospital = uploaded_passages(TUNING / "hospital_rules.txt")
    assert "政治生日" in _own_words(*(p.text for p in hospital))
    question = "政治生日是怎么回事"
    before = shared_analyzer().analyze(question)
    curated_first = [c.key for c in Answerer(load_curated()).rank(question, limit=3)]

    with_upload = Answerer([*load_curated(), *hospital])

    # the curated entries, and every later question, are cut as if the hospital had uploaded nothing
    assert shared_analyzer().analyze(question) == before
    assert [c.key for c in with_upload.rank(question, limit=10) if not c.key.startswith("kb")][:3] == curated_first


def test_another_documents_words_change_nothing_of_how_a_document_is_ranked() -> None:
    # two documents with coinages of their own, some shared (强基固本, 四不两直, 头雁领航)
    speech = uploaded_passages(TUNING / "district_speech.txt", document=1)
    notice = uploaded_passages(TUNING / "notice.txt", document=2)
    alone = Answerer(speech)
    together = Answerer([*notice, *speech])
    for row in qa_sets.document_rows("district_speech", TUNING)[1]:
        ranked_alone = [c.key for c in alone.rank(row["q"], limit=5)]
        assert [c.key for c in together.rank(row["q"], limit=60) if c.key.startswith("kb1-")][:5] == ranked_alone


def test_a_long_run_of_letters_is_cut_as_jieba_cuts_it() -> None:
    # the analyzer keeps such a run whole without jieba's graph walk; the words must be the same
    text = "党员大会" + "x" * 100 + "支委会a1" + "7" * 70
    assert shared_analyzer().analyze(text, repair=False).words == ("支部党员大会", "x" * 100, "支委会", "a1" + "7" * 70)
