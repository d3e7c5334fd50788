"""Query-aware compression of retrieved chunks (rag.compress)."""

import time

from rag.compress import ELIDED, compress
from rag.rows import column_names, label_row, row_figures

TABLE = """Note 2 – Revenue
Net sales disaggregated by significant products and services were as follows (in millions):
Three Months Ended
July 1,
2023
June 25,
2022
iPhone $ 39,669 $ 40,665
Mac 6,840 7,382
iPad 5,791 7,224
Wearables, Home and Accessories 8,284 8,084
Services 21,213 19,604
Total net sales $ 81,797 $ 82,959
Columns: 1) Three Months Ended July 1, 2023; 2) Three Months Ended June 25, 2022"""

PROSE = (
    "Travel must be booked through the company portal at least two weeks ahead. "
    "Hotels may cost up to EUR 150 per night, or EUR 220 in London. "
    "Meals are reimbursed against receipts up to EUR 60 a day. "
    "Taxis need a receipt; public transport is preferred within cities. "
    "The finance team checks every claim within ten working days of submission."
)


def test_a_table_keeps_the_matching_row_with_its_column_names_and_its_unit():
    out = compress(TABLE, "What were iPhone net sales in the quarter?", card="Apple Inc. (AAPL) | quarterly report")
    assert "iPhone: $ 39,669 (Three Months Ended July 1, 2023); $ 40,665 (Three Months Ended June 25, 2022)" in out
    assert "(in millions)" in out and out.startswith("Note 2")
    assert "Mac" not in out and "Wearables" not in out and "Services" not in out and ELIDED in out


def test_prose_keeps_the_sentences_that_share_the_questions_words():
    out = compress(PROSE, "How much may a hotel cost per night in London?")
    assert "Hotels may cost up to EUR 150 per night, or EUR 220 in London." in out
    assert "finance team" not in out and "Taxis" not in out


def test_nothing_is_cut_when_nothing_matches_or_the_chunk_is_short():
    assert compress(PROSE, "quantum chromodynamics lattice") == PROSE
    assert compress("Hotels cost EUR 150.", "hotel cost") == "Hotels cost EUR 150."


def test_the_documents_own_names_do_not_count():
    text = PROSE.replace("Hotels", "Contoso hotels").replace("Meals", "Contoso meals")
    out = compress(text, "What do Contoso taxis need?", card="Contoso Ltd | policy")
    assert "Taxis need a receipt;" in out and "hotels" not in out and "meals" not in out


def test_column_names_and_row_labels():
    assert column_names(TABLE) == ["Three Months Ended July 1, 2023", "Three Months Ended June 25, 2022"]
    assert label_row("Mac 6,840 7,382", ["A", "B"]) == "Mac: 6,840 (A); 7,382 (B)"
    assert label_row("Mac 6,840 7,382 5 %", ["A", "B"]) == "Mac 6,840 7,382 5 %"  # counts differ: unchanged


def test_chinese_sentences():
    text = (
        "公司实行混合办公制度。员工每周最多可以远程办公三天，需提前在系统中登记。"
        "办公室每天早上八点开门，晚上十点关门。报销需要在三十天内提交发票。"
    ) * 3
    out = compress(text, "员工每周可以远程办公几天？")
    assert "员工每周最多可以远程办公三天" in out and "报销" not in out


def test_rows_are_read_in_time_that_grows_slowly_with_the_line():
    # a footnote from a real 10-Q: a regex with nested quantifiers took 95 s on this one line
    footnote = (
        "(1) The weighted-average remaining lives of the 2012, 2014, 2017, 2020, 2021, and 2022 Notes were "
        "0.2, 12.8, 14.5, 17.0, 13.6, and 13.5 years as of"
    )
    long_lines = [footnote, "a" * 2000 + " 1" * 500 + " x", " ".join(["1,234.5"] * 400) + " years"]
    started = time.perf_counter()
    assert [row_figures(line) for line in long_lines] == [None, None, None]
    assert time.perf_counter() - started < 2.0
    assert row_figures("Net income (loss) $ (554 ) $ 1,234") == ("Net income (loss) $", ["(554 )", "$ 1,234"])
    assert row_figures("Gross margin 44.5 % 43.3 %") == ("Gross margin", ["44.5 %", "43.3 %"])
    assert row_figures("Other — 12") == ("Other", ["—", "12"])
    assert row_figures("2023 2022") is None  # no label: a heading, not a row
