"""Amounts named in a question (money and percentages), parsed so that the engine, not the model, orders them.

Small models compare numbers badly: asked "the June quarter ($82,959 million) or the December quarter
($117,154 million)?", the default 1.5B model picks the first option about as often as the larger one. When a
question names two or more amounts of one kind, `order_note` states their order (and, for two amounts written
alike, their difference) as a line the prompt carries after the question. The amounts come from the question,
which for a follow-up is the standalone question carrying figures from earlier answers.

An amount needs a currency or a percent sign: bare numbers (years, days, counts) are never compared.
Numbers may be written 1,234.56 or 1.234,56; "EUR 1.234" could be either, so a comparison holding one is left
to the model. Not here: units other than currencies and percent, exchange rates (amounts in different
currencies are never compared), negative amounts written in parentheses, arithmetic beyond an order and one
difference.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from decimal import Decimal

_SCALES = {
    "thousand": 10**3, "k": 10**3, "千": 10**3,
    "million": 10**6, "mn": 10**6, "m": 10**6, "百万": 10**6,
    "billion": 10**9, "bn": 10**9, "b": 10**9,
    "trillion": 10**12, "tn": 10**12,
    "万": 10**4, "千万": 10**7, "亿": 10**8, "万亿": 10**12,
}  # fmt: skip
_PREFIX = {"$": "USD", "us$": "USD", "usd": "USD", "€": "EUR", "eur": "EUR", "£": "GBP", "gbp": "GBP",
           "¥": "JPY/CNY", "￥": "JPY/CNY", "rmb": "CNY", "cny": "CNY", "jpy": "JPY"}  # fmt: skip
_SUFFIX = {"dollars": "USD", "usd": "USD", "euros": "EUR", "eur": "EUR", "元": "CNY", "人民币": "CNY",
           "美元": "USD", "欧元": "EUR", "%": "%", "percent": "%", "per cent": "%", "€": "EUR", "£": "GBP"}  # fmt: skip

_AMOUNT = re.compile(
    r"(?P<prefix>US\$|\$|€|£|¥|￥|\b(?:USD|EUR|GBP|RMB|CNY|JPY)\b)?\s?"
    r"(?P<number>(?<![\d.,])\d{1,3}(?:\.\d{3})+,\d+(?![\d.,])"  # 1.234,56: thousands dots, decimal comma
    r"|(?<![\d.,])\d+,\d{1,2}(?![\d.,])"  # 999,5: a decimal comma
    r"|(?<![\d.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\d.,])\d+(?:\.\d+)?)"
    r"(?:\s?(?P<scale>万亿|千万|百万|[千万亿]|(?:thousand|million|billion|trillion|bn|mn|tn|k|m|b)\b))?"
    r"(?:\s?(?P<suffix>%|€|£|percent\b|per cent\b|dollars\b|USD\b|euros\b|EUR\b|美元|欧元|人民币|元))?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Amount:
    text: str  # as written in the question
    kind: str  # currency code or "%"
    value: Decimal  # in units of the currency, the scale applied
    number: Decimal  # the number as written, before the scale
    head: str  # what precedes the number as written ("$", "US$ ", "")
    tail: str  # what follows it (" million", "%", " 亿元")
    ambiguous: bool = False  # "1.234": a thousand and more, or one and a fraction: never ordered


_AMBIGUOUS = re.compile(r"^\d{1,3}\.\d{3}$")


def _number(written: str) -> Decimal:
    """1,234.5 and 1.234,5 (and 999,5) as numbers."""
    if "," in written and ("." in written or re.fullmatch(r"\d+,\d{1,2}", written)):
        return Decimal(written.replace(".", "").replace(",", "."))
    return Decimal(written.replace(",", ""))


def find_amounts(text: str) -> list[Amount]:
    """Every money or percent amount in `text`, in order; repeats of one amount are kept once."""
    found: list[Amount] = []
    for m in _AMOUNT.finditer(text):
        prefix, scale, suffix = (m.group(g) or "" for g in ("prefix", "scale", "suffix"))
        kind = _PREFIX.get(prefix.lower()) or _SUFFIX.get(suffix.lower())
        if kind is None:
            continue
        number = _number(m.group("number"))
        value = number * _SCALES.get(scale.lower(), 1)
        whole = m.group(0)
        head, tail = whole[: m.start("number") - m.start()], whole[m.end("number") - m.start() :]
        ambiguous = kind != "%" and bool(_AMBIGUOUS.match(m.group("number")))
        amount = Amount(whole.strip(), kind, value, number, head.lstrip(), tail.rstrip(), ambiguous)
        if all((a.kind, a.value) != (amount.kind, amount.value) for a in found):
            found.append(amount)
    return found


def order_note(question: str) -> str | None:
    """A line ordering the amounts of each kind the question names at least twice, largest first; None when
    there is nothing to compare."""
    amounts = find_amounts(question)
    kinds = dict.fromkeys(a.kind for a in amounts)
    orders = [_order([a for a in amounts if a.kind == kind]) for kind in kinds]
    found = [o for o in orders if o]
    return f"Amounts in the question, largest first: {'; '.join(found)}." if found else None


def _order(same: list[Amount]) -> str | None:
    """`a > b > c`, or for two amounts written alike `a > b (difference d)`."""
    if len(same) < 2 or any(a.ambiguous for a in same):
        return None
    same = sorted(same, key=lambda a: a.value, reverse=True)
    steps = (f" {'=' if a.value == b.value else '>'} {b.text}" for a, b in itertools.pairwise(same))
    order = same[0].text + "".join(steps)
    big, small = same[0], same[-1]
    if len(same) > 2 or (big.head, big.tail) != (small.head, small.tail):
        return order
    places = max(-int(big.number.as_tuple().exponent), -int(small.number.as_tuple().exponent), 0)
    unit = " percentage points" if big.kind == "%" else big.tail
    return f"{order} (difference {big.head}{big.number - small.number:,.{places}f}{unit})"
