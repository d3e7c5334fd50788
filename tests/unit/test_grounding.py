"""Citation checks by hand."""

from rag.grounding import check_citations, sentences
from rag.types import Source

SOURCES = [
    Source(1, "/d/aapl.pdf", 4, 0.8, "Total net sales 82,959 for the three months ended June 25, 2022."),
    Source(2, "/d/policy.md", None, 0.6, "Hotels: up to EUR 220 per night in London."),
]


def test_sentences_keep_their_citations():
    assert sentences("Sales were 82,959 [1]. Hotels cost EUR 220 [2]! 你好。") == [
        "Sales were 82,959 [1].",
        "Hotels cost EUR 220 [2]!",
        "你好。",
    ]


def test_supported_sentences_pass():
    answer = "Total net sales were 82,959 for the three months ended June 25, 2022 [1]. London hotels: EUR 220 [2]."
    assert check_citations(answer, SOURCES) == []


def test_wrong_number_missing_source_and_unrelated_claim_are_flagged():
    answer = "Total net sales were 97,278 [1]. Parking is free for everyone [2]. Dogs are welcome [3]. Uncited claim."
    assert check_citations(answer, SOURCES) == [
        {"sentence": "Total net sales were 97,278.", "cites": [1], "reason": "numbers not in the cited source: 97278"},
        {"sentence": "Parking is free for everyone.", "cites": [2], "reason": "not supported by the cited source"},
        {"sentence": "Dogs are welcome.", "cites": [3], "reason": "cites a source that does not exist"},
    ]


def test_labels_with_digits_are_not_amounts():
    sources = [Source(1, "/d/a.pdf", 1, 0.9, "The quarter ended December 31, 2022 had higher net sales.")]
    assert check_citations("The December quarter (fiscal Q1) had higher net sales [1].", sources) == []


def test_numbers_the_question_states_need_no_source():
    asked = (
        "Which was higher?\nIn full: June 2022 ($82,959 million) or December 2022 ($117,154 million)?\n"
        "Amounts in the question, largest first: $117,154 million > $82,959 million (difference $34,195 million)."
    )
    sources = [Source(5, "/d/q1.pdf", 4, 0.8, "Total net sales $ 117,154 three months ended December 31, 2022")]
    answer = "Total net sales for the three months ended December 31, 2022 were higher: $117,154, $34,195 more [5]."
    assert check_citations(answer, sources, given=asked) == []
    flagged = check_citations(answer, sources)
    assert flagged and flagged[0]["reason"] == "numbers not in the cited source: 34195"


def test_a_decimal_point_does_not_end_a_sentence():
    sources = [Source(1, "/d/a.pdf", 3, 0.9, "Net sales were $82.9 billion in the quarter, up 1.5 % on the year.")]
    assert sentences("Net sales were $82.9 billion [1]. Growth was 1.5 % [1].") == [
        "Net sales were $82.9 billion [1].",
        "Growth was 1.5 % [1].",
    ]
    assert check_citations("Net sales were $82.9 billion in the quarter [1].", sources) == []
    assert sentences("It is in the first table of the 2022 Q3 AAPL.pdf document, block [1]. Next [2].") == [
        "It is in the first table of the 2022 Q3 AAPL.pdf document, block [1].",
        "Next [2].",
    ]
