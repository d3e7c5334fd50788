"""Amounts in questions: which count, how they are ordered, and the note a comparing follow-up carries."""

from decimal import Decimal

import pytest

from rag.amounts import find_amounts, order_note
from rag.answer import Turn
from tests.unit.test_chat import answerer_with


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("$82,959 million or $117,154 million", [("USD", Decimal("82959000000")), ("USD", Decimal("117154000000"))]),
        ("US$ 3.5 billion", [("USD", Decimal("3500000000"))]),
        ("EUR 150.50 per night", [("EUR", Decimal("150.50"))]),
        ("营收 1.5亿元", [("CNY", Decimal("150000000"))]),
        ("margin 43.3%", [("%", Decimal("43.3"))]),
        ("$5m", [("USD", Decimal("5000000"))]),
    ],
)
def test_amounts_are_parsed_with_currency_and_scale(text, values):
    assert [(a.kind, a.value) for a in find_amounts(text)] == values


def test_bare_numbers_dates_and_years_are_not_amounts():
    assert find_amounts("the three months ended June 25, 2022, 12 employees, 3 offices in 2023") == []


def test_two_amounts_are_ordered_largest_first_with_their_difference():
    question = "the June quarter ($82,959 million) or the December quarter ($117,154 million)?"
    assert order_note(question) == (
        "Amounts in the question, largest first: $117,154 million > $82,959 million (difference $34,195 million)."
    )


def test_scales_are_compared_not_digits():
    note = order_note("营收从 1,200 万元 增长到 1.5 亿元")
    assert note == "Amounts in the question, largest first: 1.5 亿元 > 1,200 万元."
    assert order_note("$900 million or $1.2 billion?") == (
        "Amounts in the question, largest first: $1.2 billion > $900 million."
    )


def test_each_kind_is_ordered_on_its_own_and_currencies_never_mix():
    assert order_note("US$ 3.5 billion or €4 billion?") is None
    assert order_note("rose 5% to $1,200 and 7% to $900") == (
        "Amounts in the question, largest first: 7% > 5% (difference 2 percentage points); "
        "$1,200 > $900 (difference $300)."
    )
    assert order_note("$1, $3 and $2") == "Amounts in the question, largest first: $3 > $2 > $1."


def test_nothing_to_compare_gives_no_note():
    assert order_note("What were Apple's total net sales for the three months ended June 25, 2022?") is None
    assert order_note("Is $5 the same as $5?") is None


def test_a_comparing_follow_up_carries_the_order_in_its_prompt(fake_settings):
    rewritten = "Which was higher: June 2022 ($82,959 million) or December 2022 ($117,154 million)?"
    answerer, gen = answerer_with(fake_settings, [rewritten, "December 2022 [1]."])
    history = [Turn("Net sales in June 2022?", "$82,959 million [1].", "q1"), Turn("And December?", "x", "q2")]
    answerer.ask("Which of those was higher?", history=history).consume()
    question = gen.seen[1][-1]["content"].split("Question: ", 1)[1]
    assert question == (
        f"Which of those was higher?\nIn full: {rewritten}\n"
        "Amounts in the question, largest first: $117,154 million > $82,959 million (difference $34,195 million)."
    )


def test_currency_signs_after_the_number_and_european_decimals():
    assert [a.value for a in find_amounts("220 € or 180 €?")] == [220, 180]
    assert (
        order_note("Is 220 € or 180 € more?")
        == "Amounts in the question, largest first: 220 € > 180 € (difference 40 €)."
    )
    note = order_note("Which is more, EUR 1.234,56 or EUR 999?")
    assert note is not None and note.startswith("Amounts in the question, largest first: EUR 1.234,56 > EUR 999")


def test_an_ambiguous_number_is_never_ordered():
    assert order_note("Which is more, EUR 1.234 or EUR 999?") is None  # 1234 or 1.234: the model reads it
