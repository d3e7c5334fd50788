"""Row fit (rag.rows) and the promotion of the chunk holding the asked row (rag.retrieve.promote_row)."""

from rag.retrieve import promote_row
from rag.rows import row_fit, row_labels
from rag.types import Chunk, Hit

STATEMENT = """Condensed Consolidated Statements of Operations (in millions)
Net sales 81,797 82,959 289,145 304,182
Research and development 7,442 6,797 22,608 19,490
Selling, general and administrative 5,973 6,012 18,781 18,729
Total operating expenses 13,415 12,809 41,389 38,219"""

PROSE = """Research and development expense increased during the third quarter of 2023 compared to the same
quarter of 2022, driven primarily by higher headcount-related costs. The company continues to believe that
focused investment in research and development is critical to its future growth."""

BALANCE = """Condensed Consolidated Balance Sheets (in millions)
Cash and cash equivalents 28,408 23,646
Accounts receivable, net 19,549 28,184
Inventories 7,351 4,946"""


def _hit(name: str, text: str, score: float) -> Hit:
    return Hit(Chunk(name, text, f"/d/{name}.pdf", 1, 0, "h", "d"), score)


def test_row_labels_are_the_labels_of_lines_that_end_in_figures():
    labels = row_labels(STATEMENT)
    assert len(labels) == 4 and frozenset({"research", "develop"}) <= labels[1]
    assert row_labels(PROSE) == []
    assert row_labels("Revenue 81,797") == []  # one figure: too little to call it a row
    long_label = "The weighted-average lives of the Notes were as follows in the quarter and " * 2 + "12.8 14.5"
    assert row_labels(long_label) == []  # a sentence that ends in figures


def test_the_statement_holding_the_asked_row_fits_best():
    hits = [_hit("prose", PROSE, 0.8), _hit("statement", STATEMENT, 0.6), _hit("balance", BALANCE, 0.7)]
    fit = row_fit("How much did the company spend on research and development in Q3 2023?", hits)
    assert fit["statement"] > 0.0 == fit["prose"] == fit["balance"]
    # a term every line holds counts for little: the company's name added to each line changes nothing much
    named = [_hit(h.chunk.id, "Contoso " + h.chunk.text.replace("\n", "\nContoso "), h.score) for h in hits]
    fit_named = row_fit("How much did Contoso spend on research and development in Q3 2023?", named)
    assert fit_named["balance"] < 0.1 < fit_named["statement"]
    assert row_fit("the of and", hits) == {}  # no term to look for


def test_the_best_fitting_row_chunk_goes_first_and_the_rest_keep_their_order():
    hits = [_hit("prose", PROSE, 0.8), _hit("balance", BALANCE, 0.7), _hit("statement", STATEMENT, 0.6)]
    question = "How much did the company spend on research and development in Q3 2023?"
    scores = {h.chunk.id: h.score for h in hits}

    def fused(h: Hit) -> float:
        return scores[h.chunk.id]

    promoted = promote_row(question, hits, fused, 2.0)
    assert [h.chunk.id for h in promoted] == ["statement", "prose", "balance"]
    assert [h.chunk.id for h in promote_row(question, hits, fused, 0.01)] == ["prose", "balance", "statement"]
    narrative = "Did the company announce any acquisitions?"  # no row fits: nothing moves
    assert promote_row(narrative, hits, fused, 2.0) == hits
