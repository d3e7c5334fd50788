"""Re-ranking by question terms, by hand."""

from rag.retrieve import rerank, terms
from rag.types import Chunk, Hit


def hit(text: str, score: float) -> Hit:
    return Hit(Chunk(text[:8], text, "/d.pdf", 1, 0, "h", "d"), score)


def test_terms():
    assert terms("What were Apple's total net sales for June 25, 2022?") == {
        "apple", "total", "net", "sales", "june", "25", "2022",
    }  # fmt: skip
    assert terms("远程办公几天") == {"远", "程", "办", "公", "几", "天"}


def test_exact_terms_lift_the_right_passage():
    hits = [
        hit("Net sales by category for the three months ended December 31, 2022", 0.80),
        hit("Total net sales 82,959 three months ended June 25, 2022", 0.76),
        hit("Unrelated text about parking", 0.70),
    ]
    ranked = rerank("total net sales for the three months ended June 25, 2022", hits, k=2)
    assert [h.score for h in ranked] == [0.76, 0.80]  # scores stay cosine; only the order changes


def test_weight_zero_keeps_dense_order():
    hits = [hit("a b", 0.9), hit("question words here", 0.5)]
    assert rerank("question words here", hits, k=2, weight=0.0) == hits


def test_the_file_name_counts_as_the_chunks_terms():
    same_table = "Inventories 5,433 total current assets"
    q3_2022 = Hit(Chunk("a", same_table, "/filings/2022 Q3 AAPL.pdf", 3, 0, "h", "d"), 0.70)
    q1_2023 = Hit(Chunk("b", same_table, "/filings/2023 Q1 AAPL.pdf", 3, 0, "h", "d"), 0.72)
    ranked = rerank("Apple inventories in the Q3 2022 report", [q1_2023, q3_2022], k=2)
    assert [h.chunk.id for h in ranked] == ["a", "b"]
