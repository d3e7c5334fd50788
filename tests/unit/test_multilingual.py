"""The multilingual vectors of CJK chunks: stored with the keyword rows by every writer, reused when a file
changes, searched exactly, and used by retrieval for a question in another script. A stand-in embedder maps
a few English and Chinese phrases onto shared "meanings" (the real model's test is in
tests/integration/test_real_pipeline.py)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from rag.keyword import KeywordIndex
from rag.pipeline import build_pipeline
from rag.retrieve import Filters, Retriever
from rag.settings import RetrieveSettings
from rag.text import mostly_cjk
from rag.types import Chunk

MEANINGS = {"remote": ("remote", "远程"), "hotel": ("hotel", "酒店"), "laptop": ("laptop", "电脑")}


class Translating:
    """A multilingual embedder in miniature: a text's vector is the mix of the meanings its words carry."""

    name = "translating"
    dim = len(MEANINGS) + 1
    max_tokens = 512

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def _vector(self, text: str) -> list[float]:
        vec = [float(any(w in text.lower() for w in words)) for words in MEANINGS.values()] + [0.3]
        norm = math.sqrt(sum(x * x for x in vec))
        return [x / norm for x in vec]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t) for t in texts]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.embedded += texts
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


def _chunk(source: str, text: str, i: int) -> Chunk:
    return Chunk(f"{source}#{i}", text, source, 1, i, "h", "d", "")


def test_mostly_cjk():
    assert mostly_cjk("员工每周最多可以远程办公三天。") and mostly_cjk("在 CPU 上运行 LLaMA 模型的工具")
    assert not mostly_cjk("Employees may work remotely (远程) three days a week.") and not mostly_cjk("12 34")


def test_keyword_index_keeps_vectors_with_their_source():
    index = KeywordIndex(None, "t")
    index.replace_source("/zh.md", [("z1", "远程"), ("z2", "酒店")], None, {"z1": [1.0, 0.0], "z2": [0.0, 1.0]})
    index.replace_source("/ja.md", [("j1", "電脳")], None, {"j1": [0.6, 0.8]})
    assert index.has_vectors()
    assert [i for i, _ in index.multilingual_search([1.0, 0.0], 2)] == ["z1", "j1"]
    assert index.multilingual_search([1.0, 0.0], 5, sources=["/ja.md"]) == [("j1", pytest.approx(0.6))]
    index.replace_source("/zh.md", [("z2", "酒店")], None, {"z2": [0.0, 1.0]})  # replaced whole
    assert index.vectors("/zh.md") == {"z2": [0.0, 1.0]}
    with pytest.raises(ValueError, match="not among the rows"):
        index.replace_source("/zh.md", [("z2", "酒店")], None, {"zz": [0.0, 1.0]})
    assert index.vectors("/zh.md") == {"z2": [0.0, 1.0]}  # the failed write changed nothing
    index.delete_source("/ja.md")
    assert [i for i, _ in index.multilingual_search([1.0, 0.0], 5)] == ["z2"]
    index.replace_source("/ko.md", [("k1", "원격")], None, {"k1": [1.0, 0.0]}, model="another")
    assert [i for i, _ in index.multilingual_search([1.0, 0.0], 5)] == ["z2"]  # never another model's vectors
    assert index.multilingual_search([1.0, 0.0], 5, model="another") == [("k1", pytest.approx(1.0))]
    index.drop()
    assert not index.has_vectors() and index.multilingual_search([1.0, 0.0], 5) == []


@pytest.fixture
def mixed(fake_settings):
    """An English handbook and a Chinese guide, written by the store with the stand-in multilingual embedder."""
    translating = Translating()
    pipeline = build_pipeline(fake_settings, multilingual=translating)
    english = ["Hotels cost up to 220 EUR per night in London.", "Laptops are replaced every three years."]
    chinese = ["员工每周最多可以远程办公三天。", "远程办公时必须使用公司配发的笔记本电脑。"]
    pipeline.store.replace_source("/en.md", [_chunk("/en.md", t, i) for i, t in enumerate(english)], pipeline.embedder)
    pipeline.store.replace_source("/zh.md", [_chunk("/zh.md", t, i) for i, t in enumerate(chinese)], pipeline.embedder)
    return pipeline, translating


def test_only_cjk_chunks_get_multilingual_vectors_and_unchanged_ones_are_not_embedded_again(mixed):
    pipeline, translating = mixed
    store = pipeline.store
    vectors = store.keywords.vectors
    assert set(vectors("/zh.md", "translating")) == {"/zh.md#0", "/zh.md#1"} and vectors("/en.md", "translating") == {}
    assert translating.embedded == ["员工每周最多可以远程办公三天。", "远程办公时必须使用公司配发的笔记本电脑。"]
    changed = [_chunk("/zh.md", "员工每周最多可以远程办公三天。", 0), _chunk("/zh.md", "出差住酒店的上限。", 2)]
    store.replace_source("/zh.md", changed, pipeline.embedder)
    assert translating.embedded[2:] == ["出差住酒店的上限。"]  # the unchanged chunk kept its vector
    assert set(vectors("/zh.md", "translating")) == {"/zh.md#0", "/zh.md#2"}
    store.delete_source("/zh.md")
    assert not store.has_multilingual("translating")


def test_vectors_of_another_multilingual_model_are_replaced_not_compared(mixed, fake_settings):
    pipeline, _ = mixed
    other = Translating()
    other.name = "another-model"
    again = build_pipeline(fake_settings, multilingual=other)
    retriever = again.retriever(again.store)
    found = retriever.search("How many days a week may employees work remotely?", 2)
    assert not found.cross_language  # the stored vectors are the first model's: not used
    chinese = [_chunk("/zh.md", "员工每周最多可以远程办公三天。", 0)]
    again.store.replace_source("/zh.md", chinese, again.embedder)
    assert other.embedded == ["员工每周最多可以远程办公三天。"]  # embedded again, not taken from the old model
    assert again.store.keywords.vectors("/zh.md", "translating") == {}
    assert retriever.search("How many days a week may employees work remotely?", 2).cross_language


def test_a_failed_multilingual_embedding_writes_nothing(mixed):
    pipeline, translating = mixed
    store = pipeline.store
    before = (store.count(), store.keywords.ids(), store.keywords.vectors("/zh.md", "translating"))

    def broken(texts: Sequence[str]) -> list[list[float]]:
        raise RuntimeError("engine failed")

    translating.embed = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="engine failed"):
        store.replace_source("/zh.md", [_chunk("/zh.md", "新的远程办公规定。", 5)], pipeline.embedder)
    assert (store.count(), store.keywords.ids(), store.keywords.vectors("/zh.md", "translating")) == before


def test_an_english_question_gets_the_chinese_passage_that_answers_it(mixed):
    pipeline, _ = mixed
    retriever = pipeline.retriever(pipeline.store)
    question = "How many days a week may employees work remotely?"
    found = retriever.search(question, 2)
    assert "员工每周最多可以远程办公三天。" in [h.chunk.text for h in found.hits] and found.cross_language
    # when English passages that share the question's words outrank it in fusion, it takes the last place
    wordy = ["Employees work 38 hours a week.", "How many days employees work a week is agreed with the team."]
    pipeline.store.replace_source("/hr.md", [_chunk("/hr.md", t, i) for i, t in enumerate(wordy)], pipeline.embedder)
    faint = Retriever(
        pipeline.embedder,
        pipeline.store,
        RetrieveSettings(multilingual_weight=0.01),
        multilingual=pipeline.multilingual,
    )
    hits = faint.retrieve(question, 3)
    assert [h.chunk.source for h in hits] == ["/hr.md", "/hr.md", "/zh.md"]
    assert hits[-1].chunk.text == "员工每周最多可以远程办公三天。"
    assert not retriever.search("What is the per diem for meals?", 2).cross_language  # nothing Chinese is like it


def test_the_answerer_counts_a_cross_language_passage_as_found(mixed):
    pipeline, _ = mixed
    result = pipeline.answerer_for(pipeline.store).ask("How many days a week may employees work remotely?").consume()
    assert result.found and any(s.source == "/zh.md" for s in result.sources)


def test_a_chinese_question_ranks_by_the_multilingual_similarity_too(mixed):
    pipeline, _ = mixed
    without = Retriever(pipeline.embedder, pipeline.store, RetrieveSettings(use_cards=False))
    with_it = Retriever(
        pipeline.embedder,
        pipeline.store,
        RetrieveSettings(use_cards=False, multilingual_weight=1),
        multilingual=pipeline.multilingual,
    )
    question = "员工每周远程办公用电脑有什么规定？"  # shares more characters with the first, means the second
    assert without.retrieve(question, 1)[0].chunk.text.startswith("员工每周")
    assert with_it.retrieve(question, 1)[0].chunk.text.startswith("远程办公时")


def test_a_chinese_question_searches_the_english_documents_with_its_translation(mixed):
    """The default embedder cannot read the question and no English word matches it: the LLM's translation is
    searched, and the best English chunk takes the k-th place; the first places stay the question's own."""
    pipeline, _ = mixed
    asked: list[str] = []

    def translate(question: str) -> str:
        asked.append(question)
        return "How much may a hotel cost per night in London?\n(translated)"

    retriever = Retriever(pipeline.embedder, pipeline.store, RetrieveSettings(min_score=0.1), translate=translate)
    question = "伦敦的酒店每晚最多可以花多少钱？"
    found = retriever.search(question, 2)
    hits = found.hits
    assert asked == [question] and found.translation == "How much may a hotel cost per night in London?"
    assert hits[-1].chunk.text == "Hotels cost up to 220 EUR per night in London." and found.cross_language
    assert Retriever(pipeline.embedder, pipeline.store).retrieve(question, 2)[:1] == hits[:1]
    answerer = pipeline.answerer_for(pipeline.store)
    answerer.retriever = retriever
    assert answerer.ask(question).consume().found

    strict = Retriever(pipeline.embedder, pipeline.store, RetrieveSettings(min_score=0.99), translate=translate)
    strictly = strict.search(question, 2)
    assert all(mostly_cjk(h.chunk.text) for h in strictly.hits) and not strictly.cross_language
    for answer in ("", "伦敦酒店", RuntimeError("model failed")):

        def failing(question: str, answer: object = answer) -> str:
            if isinstance(answer, Exception):
                raise answer
            return str(answer)

        other = Retriever(pipeline.embedder, pipeline.store, RetrieveSettings(min_score=0.1), translate=failing)
        without = other.search(question, 2)
        assert without.hits == Retriever(pipeline.embedder, pipeline.store).retrieve(question, 2)
        assert not without.cross_language and without.translation is None
    before = len(asked)
    english = retriever.search("How much may a hotel cost per night in London?", 2)
    assert len(asked) == before and english.translation is None  # an English question is not translated


def test_no_translation_when_every_document_in_scope_is_chinese(mixed):
    pipeline, _ = mixed
    chinese = [_chunk("/zh.md", "员工每周最多可以远程办公三天。", 0)]
    pipeline.store.replace_source("/zh.md", chinese, pipeline.embedder, card={"language": "zh", "title": "指南"})
    english = [_chunk("/en.md", "Hotels cost up to 220 EUR per night in London.", 0)]
    pipeline.store.replace_source("/en.md", english, pipeline.embedder, card={"language": "en", "title": "Travel"})
    asked: list[str] = []
    retriever = Retriever(pipeline.embedder, pipeline.store, translate=lambda q: asked.append(q) or "Remote work?")
    retriever.retrieve("远程办公每周几天？", 2, filters=Filters.parse(docs=["zh.md"]))
    assert asked == []  # the filter leaves only the Chinese guide
    retriever.retrieve("远程办公每周几天？", 2)
    assert asked == ["远程办公每周几天？"]  # the English document is in scope


def test_no_translation_over_japanese_or_korean_documents(fake_settings):
    """Retrieval takes kana and hangul for CJK (`mostly_cjk`): the cards' language follows the same rule."""
    from ingest.index import Indexer

    pipeline = build_pipeline(fake_settings)
    japanese, korean = "社員は週に三日まで在宅勤務できます。", "직원은 주 3일 재택근무가 가능합니다."
    Indexer(pipeline).index_texts([("beir:ja", "", japanese), ("beir:ko", "", korean)])
    asked: list[str] = []
    retriever = Retriever(pipeline.embedder, pipeline.store, translate=lambda q: asked.append(q) or "Remote work?")
    assert retriever.retrieve("在宅勤務は週に何日ですか？", 1) and retriever.retrieve("재택근무는 주 며칠입니까?", 1)
    assert asked == []


def test_texts_indexed_without_files_carry_their_language_so_a_chinese_corpus_is_not_translated(fake_settings):
    """A BEIR corpus (ragqa eval, benchmarks) goes through `Indexer.index_texts`, not the card builder; its
    documents' language must still be known, or every Chinese question is translated for nothing."""
    from ingest.index import Indexer

    pipeline = build_pipeline(fake_settings)
    Indexer(pipeline).index_texts(
        [("beir:z", "远程办公", "员工每周最多可以远程办公三天。"), ("beir:u", "", "员工出差住酒店每晚最多两百欧元。")]
    )
    cards = pipeline.store.cards()
    assert cards["beir:z"]["language"] == "zh" and cards["beir:u"]["language"] == "zh"
    asked: list[str] = []
    retriever = Retriever(pipeline.embedder, pipeline.store, translate=lambda q: asked.append(q) or "Remote work?")
    assert retriever.retrieve("远程办公每周几天？", 1) and asked == []
    Indexer(pipeline).index_texts([("beir:e", "Travel", "Hotels cost up to 220 EUR per night in London.")])
    retriever.retrieve("远程办公每周几天？", 1)
    assert asked == ["远程办公每周几天？"]


def test_multilingual_similarities_are_stretched_from_unrelated_or_relative_to_the_candidates():
    from rag.retrieve import _stretch

    sims = {"a": 0.86, "b": 0.88, "c": 0.94}
    fixed, relative = _stretch(sims, relative=False), _stretch(sims, relative=True)
    assert fixed(0.7) == 0.0 and fixed(0.6) == 0.0 and abs(fixed(0.88) - 0.6) < 1e-9
    assert relative(0.86) == 0.0 and relative(0.94) == 1.0 and abs(relative(0.88) - 0.25) < 1e-9
    for alike in ({"a": 0.85}, {"a": 0.85, "b": 0.85}, {}):  # nothing to compare with: from the floor
        assert _stretch(alike, relative=True)(0.85) == fixed(0.85)
