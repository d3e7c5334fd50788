"""Keyword index, fusion, document scope and filters, by hand, over a real Chroma with the hashing embedder."""

from datetime import date

import pytest

from rag.cards import Card
from rag.errors import ConfigError
from rag.keyword import KeywordIndex
from rag.pipeline import build_pipeline
from rag.retrieve import Filters, Retriever, page_companions, scope_for, terms
from rag.settings import RetrieveSettings
from rag.text import tokenize
from rag.types import Chunk, Hit


def test_tokens_are_stemmed_words_plain_numbers_and_cjk_bigrams():
    assert tokenize("What were Apple's total net sales (82,959) for June 25, 2022?") == [
        "appl", "total", "net", "sale", "82959", "june", "25", "2022",
    ]  # fmt: skip
    assert tokenize("Revenues grew 2.5%") == ["revenu", "grew", "2d5"]
    assert tokenize("远程办公") == ["远", "程", "办", "公", "远程", "程办", "办公"]
    assert tokenize("补贴是多少？", question=True) == ["补", "贴", "是", "补贴", "贴是"]  # no 多少, 是多, 少
    assert tokenize("新员工 B") == ["新", "员", "工", "新员", "员工", "b"]
    assert tokenize("在CPU上运行") == ["在", "cpu", "上", "运", "行", "上运", "运行"]
    assert terms("the revenue; revenues") == {"revenu"}


def test_keyword_index_replaces_a_source_whole_and_filters_by_source():
    index = KeywordIndex(None, "t")
    index.replace_source("/a.md", [("a1", "Hotels in London cost up to 220 EUR"), ("a2", "Taxis are fine")], None)
    index.replace_source("/b.md", [("b1", "London office opening hours")], {"title": "B"})
    assert [i for i, _ in index.search("hotel budget", 5)] == ["a1"]
    assert {i for i, _ in index.search("London", 5)} == {"a1", "b1"}  # only common tokens: all of them match
    assert [i for i, _ in index.search("hotel London", 5)] == ["a1"]  # London, in 2 of 3 chunks, weighs nothing
    assert [i for i, _ in index.search("London", 5, sources=["/b.md"])] == ["b1"]
    index.replace_source("/a.md", [("a3", "Hotels are booked by the travel desk")], None)
    assert index.ids() == {"a3", "b1"}
    index.delete_source("/b.md")
    assert index.ids() == {"a3"} and index.cards() == {}
    assert index.search("", 5) == [] and index.search("London", 5, sources=[]) == []


def test_chinese_is_found_by_keyword_alone():
    index = KeywordIndex(None, "zh")
    index.replace_source("/en.md", [("en", "Employees may work remotely three days a week.")], None)
    index.replace_source("/zh.md", [("zh", "员工每周最多可以远程办公三天。")], None)
    assert index.search("员工每周可以远程办公几天？", 5)[0][0] == "zh"


def _chunk(source: str, text: str, i: int, context: str = "") -> Chunk:
    return Chunk(f"{source}#{i}", text, source, 1, i, "h", "d", context)


@pytest.fixture
def filings(fake_settings):
    """Four filings of two companies, the same table in each; cards as ingest writes them."""
    pipeline = build_pipeline(fake_settings)
    store = pipeline.store
    for company, ticker in (("Apple Inc.", "AAPL"), ("Intel Corporation", "INTC")):
        for end, label in (("2023-04-01", "2023 Q2"), ("2023-07-01", "2023 Q3")):
            card = Card(
                companies=[company],
                tickers=[ticker],
                kind="quarterly report",
                form="10-Q",
                period=f"quarterly period ended {end}",
                period_end=end,
                file_name=f"{label} {ticker}.pdf",
            )
            source = f"/filings/{label} {ticker}.pdf"
            chunks = [
                _chunk(source, f"Total net sales {len(label) * 1000 + ord(ticker[0])} gross margin", 0, card.line),
                _chunk(source, "Risk factors: supply chain and competition.", 1, card.line),
            ]
            store.replace_source(source, chunks, pipeline.embedder, card.to_dict())
    return pipeline


def test_a_company_and_period_in_the_question_pick_the_document(filings):
    retriever = filings.retriever(filings.store)
    hits = retriever.retrieve("What were Intel's total net sales in Q2 2023?", 2)
    assert {h.chunk.file_name for h in hits} == {"2023 Q2 INTC.pdf"}
    hits = retriever.retrieve("Apple total net sales in the quarter ended July 1, 2023", 1)
    assert hits[0].chunk.file_name == "2023 Q3 AAPL.pdf"
    hits = retriever.retrieve("What was AAPL's gross margin in the latest 10-Q?", 2)
    assert {h.chunk.file_name for h in hits} == {"2023 Q3 AAPL.pdf"}


def test_a_question_across_documents_gets_each_of_them(filings):
    retriever = filings.retriever(filings.store)
    found = retriever.search("How have Apple's total net sales changed over time?", 2)
    assert {h.chunk.file_name for h in found.hits} == {"2023 Q2 AAPL.pdf", "2023 Q3 AAPL.pdf"}
    assert found.scope.spread


def test_without_cards_the_whole_collection_is_searched(filings):
    filings.settings.retrieve.use_cards = False
    retriever = filings.retriever(filings.store)
    hits = retriever.retrieve("Intel total net sales Q2 2023", 8)
    assert len({h.chunk.source for h in hits}) == 4


def test_filters_by_document_kind_folder_and_date(filings, tmp_path):
    retriever = filings.retriever(filings.store)
    only = Filters.parse(["2023 Q2 AAPL.pdf"])
    assert {h.chunk.file_name for h in retriever.retrieve("total net sales", 8, only)} == {"2023 Q2 AAPL.pdf"}
    after = Filters.parse(where=["date>=2023-06-01"])
    assert {h.chunk.file_name for h in retriever.retrieve("net sales", 8, after)} == {
        "2023 Q3 AAPL.pdf", "2023 Q3 INTC.pdf",
    }  # fmt: skip
    assert retriever.retrieve("net sales", 8, Filters.parse(where=["kind=policy"])) == []
    assert retriever.retrieve("net sales", 8, Filters.parse(where=[f"folder={tmp_path}"])) == []
    assert len(retriever.retrieve("net sales", 8, Filters.parse(where=["folder=/filings"]))) == 8


@pytest.mark.parametrize("cond", ["size>3", "date>=yesterday", "colour=red", "kind>=x"])
def test_bad_filters_are_clear_errors(cond):
    with pytest.raises(ConfigError):
        Filters.parse(where=[cond])


def test_filter_parse():
    f = Filters.parse(["*.pdf"], ["kind=Policy", "date>=2023-01-01", "date<=2023-12-31"])
    assert f == Filters(("*.pdf",), (), ("policy",), date(2023, 1, 1), date(2023, 12, 31))
    assert Filters().empty and not f.empty


def test_scope_skips_a_rule_that_would_leave_nothing():
    cards = {"/a.pdf": Card(companies=["Contoso Ltd"], kind="policy", file_name="a.pdf")}
    assert scope_for("What does Fabrikam's policy say?", cards).sources is None
    assert scope_for("What does Contoso's policy say?", cards).sources is None  # all documents: no narrowing


def test_exact_terms_lift_the_right_passage(fake_settings):
    pipeline = build_pipeline(fake_settings)
    texts = [
        "Net sales by category for the three months ended December 31, 2022",
        "Total net sales 82,959 three months ended June 25, 2022",
        "Unrelated text about parking",
    ]
    chunks = [_chunk("/d.pdf", t, i) for i, t in enumerate(texts)]
    pipeline.store.replace_source("/d.pdf", chunks, pipeline.embedder)
    retriever = Retriever(pipeline.embedder, pipeline.store)
    hit = retriever.retrieve("total net sales for the three months ended June 25, 2022", 1)[0]
    assert hit.chunk.text == texts[1]
    assert 0 < hit.score <= 1  # the reported score stays the cosine similarity


def test_a_chinese_question_finds_the_chinese_sample_by_keyword_alone(fake_settings):
    from ingest.index import Indexer
    from tests.conftest import SAMPLE

    pipeline = build_pipeline(fake_settings)
    Indexer(pipeline).ingest([SAMPLE])
    store = pipeline.store
    top_id, _ = store.keyword_search("新员工试用期可以在家办公吗？", 3)[0]
    assert store.get([top_id], [0.0] * pipeline.embedder.dim)[0].chunk.file_name == "remote-work-guide-zh.md"
    keyword_only = Retriever(
        pipeline.embedder, store, RetrieveSettings(dense_weight=0.0, coverage_weight=0.0, use_cards=False)
    )
    assert keyword_only.retrieve("远程办公的补贴是多少？", 1)[0].chunk.file_name == "remote-work-guide-zh.md"


def test_a_missing_reranker_is_a_clear_error(filings, tmp_path):
    filings.settings.retrieve.reranker_path = tmp_path / "no-such-model"
    with pytest.raises(ConfigError, match="does not exist"):
        filings.retriever(filings.store).retrieve("Intel net sales", 2)


def test_the_reranker_orders_the_fused_hits(filings, tmp_path, monkeypatch):
    """Our wiring only (what is scored, how the order is taken): no cross-encoder ships on PyPI here, so a
    stand-in class scores by the question's words; a user's real model loads through the same call."""
    import sentence_transformers

    class WordCrossEncoder:
        def __init__(self, path: str, local_files_only: bool) -> None:
            assert path == str(tmp_path) and local_files_only

        def predict(self, pairs, show_progress_bar=False):  # noqa: ANN001
            return [float("risk" in text.lower()) for _, text in pairs]

    monkeypatch.setattr(sentence_transformers, "CrossEncoder", WordCrossEncoder)
    filings.settings.retrieve.reranker_path = tmp_path
    retriever = filings.retriever(filings.store)
    found = retriever.search("Intel total net sales Q2 2023", 2)
    assert found.hits[0].chunk.text.startswith("Risk factors") and found.rerank_s is not None


def _on_page(source: str, page: int | None, i: int) -> Hit:
    return Hit(Chunk(f"{source}#{i}", f"text {i}", source, page, i, "h", "d"), 1.0 - i / 100)


def test_page_companions_are_the_chunks_just_below_that_share_a_page_of_the_first_k():
    ranked = [
        _on_page("/a.pdf", 3, 0),
        _on_page("/b.pdf", 7, 1),
        _on_page("/a.pdf", 4, 2),  # another page of a chosen document: not a companion
        _on_page("/b.pdf", 7, 3),
        _on_page("/a.pdf", 3, 4),
        _on_page("/a.pdf", 3, 5),  # past the depth
    ]
    assert [h.chunk.chunk_index for h in page_companions(ranked, 2, 5)] == [3, 4]
    assert [h.chunk.chunk_index for h in page_companions(ranked, 2, 6)] == [3, 4]  # at most k of them
    assert page_companions(ranked, 2, 2) == [] and page_companions(ranked, 2, 0) == []
    unpaged = [_on_page("/n.md", None, i) for i in range(4)]
    assert [h.chunk.chunk_index for h in page_companions(unpaged, 1, 4)] == [1]  # the document stands for its page


def test_the_answer_path_shows_a_page_companion_and_ranking_does_not(fake_settings):
    pipeline = build_pipeline(fake_settings)
    texts = [
        "Quarterly gross margin table heading for the three months",
        "Gross margin three months 40,215 total",
        "Parking policy for visitors",
        "Cafeteria opening hours",
    ]
    pages = [3, 3, 9, 10]
    chunks = [Chunk(f"/f.pdf#{i}", t, "/f.pdf", pages[i], i, f"h{i}", "d") for i, t in enumerate(texts)]
    pipeline.store.replace_source("/f.pdf", chunks, pipeline.embedder)
    retriever = Retriever(pipeline.embedder, pipeline.store, RetrieveSettings(use_cards=False, page_depth=4))
    ranked = retriever.retrieve("gross margin for the three months", 4)
    assert {h.chunk.page for h in ranked[:2]} == {3}, "the two gross margin chunks rank first"
    first = retriever.retrieve("gross margin for the three months", 1)
    with_companion = retriever.retrieve("gross margin for the three months", 1, companions=True)
    assert len(first) == 1 and [h.chunk.id for h in with_companion] == [h.chunk.id for h in ranked[:2]]


def test_tokens_in_half_the_chunks_are_left_out_of_the_match_without_changing_a_score(tmp_path):
    index = KeywordIndex(tmp_path / "k.sqlite3", "c")
    texts = [f"quarterly report {i} revenue" for i in range(6)] + ["quarterly report margin", "parking rules"]
    index.replace_source("/a.md", [(f"a{i}", t) for i, t in enumerate(texts)], None)
    question = "quarterly report margin and revenue"
    tokens = " OR ".join(f'"{t}"' for t in sorted(set(tokenize(question, question=True))))
    every = index._db.execute(
        f"SELECT chunk_id, -bm25({index.table}) FROM {index.table} WHERE {index.table} MATCH ?", (tokens,)
    ).fetchall()
    found = dict(index.search(question, 10))
    assert list(found) == ["a6"], "quarterly, report (7 of 8 chunks) and revenue (6 of 8) are left out"
    assert len(every) == 7 and all(abs(found.get(i, 0.0) - s) < 1e-4 for i, s in every)
    assert index._term_counts(["quarter"]) == (8, {"quarter": 7, "report": 7, "margin": 1, "revenu": 6})


def test_term_counts_follow_a_write_by_another_connection(tmp_path):
    reader, writer = KeywordIndex(tmp_path / "k.sqlite3", "c"), KeywordIndex(tmp_path / "k.sqlite3", "c")
    writer.replace_source("/a.md", [("a0", "zebra budget"), ("a1", "zebra plan"), ("a2", "lion")], None)
    assert [i for i, _ in reader.search("zebra lion", 5)] == ["a2"]  # "zebra" in 2 of 3: left out
    writer.replace_source("/b.md", [(f"b{i}", "lion") for i in range(5)], None)
    assert reader._term_counts(["lion"]) == (8, {"lion": 6}), "counted afresh after the other's write"
    assert {i for i, _ in reader.search("zebra lion", 10)} == {"a0", "a1"}  # now "lion" is the common one


def test_a_question_of_only_common_tokens_scans_a_small_collection_but_not_a_large_one(tmp_path, monkeypatch):
    index = KeywordIndex(tmp_path / "k.sqlite3", "c")
    texts = ["lion lion lion zebra", "lion zebra", "lion zebra zebra", "parking"]
    index.replace_source("/a.md", [(f"a{i}", t) for i, t in enumerate(texts)], None)
    assert [i for i, _ in index.search("lion", 5)] == ["a0", "a1", "a2"], "3 of 4: ordered by frequency alone"
    monkeypatch.setattr("rag.keyword._SCAN_ALL", 3)
    assert index.search("lion", 5) == [], "every token in half the chunks or more: no scan past _SCAN_ALL"
    assert [i for i, _ in index.search("lion parking", 5)] == ["a3"], "a telling token is still matched"
