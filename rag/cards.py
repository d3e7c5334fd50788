"""Document cards: what a document is, in a few fields, read from its first pages and file metadata by rules.

A card holds the title, the issuer or company (names and stock tickers), the kind of document (quarterly or
annual report, policy, contract, manual, ...), the period or date it covers (with the fiscal quarter when the
document names one, e.g. "Q3 2022" in Apple's page footers) and the language. It is stored with every chunk
of the document: its one-line form (`Card.line`) is embedded and keyword-indexed with each chunk and shown to
the model above each block, so a chunk of figures says whose figures, for which period.

The rules look for what documents of any origin state about themselves: "(Exact name of registrant ...)",
"Inc."/"Corporation"/"有限公司" names, "Trading symbol" rows and "(NYSE: X)", "for the quarterly period ended
<date>", "effective <date>", "第二季度", title lines and Markdown headings. A sidecar file `NAME.card.json` next
to a document overrides any field (edit the document or touch it so the next run picks the card up).

`QuestionScope` reads the same things from a question: companies or tickers, periods ("Q2 2023", "the quarter
ended April 1, 2023", "2023年第二季度"), "latest"/"most recent", document kinds; rag.retrieve uses it to pick
the documents a question is about. Not here: LLM-written cards (rules only, measured in docs/benchmarks.md).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from pathlib import Path, PurePath
from typing import Any

from rag.text import mostly_cjk
from rag.types import Page

SIDECAR_SUFFIX = ".card.json"
_HEAD_CHARS = 6000  # of the first pages, where documents say what they are

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ]
    )
}
MONTH_RE = "(?:" + "|".join(m.capitalize() for m in _MONTHS) + "|" + "|".join(_MONTHS) + ")"
_DATE_EN = re.compile(rf"\b({MONTH_RE})\s+(\d{{1,2}}),?\s*(\d{{4}})\b")
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_DATE_ZH = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_ORDINAL = {"first": 1, "second": 2, "third": 3, "fourth": 4, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4}
_ZH_QUARTER = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}
_FISCAL_EN = re.compile(
    r"\bQ([1-4])\s*(?:FY\s*|fiscal\s+(?:year\s+)?)?'?(\d{4})\b"
    r"|\b(?:FY\s*)?(\d{4})\s*Q([1-4])\b"
    r"|\b(first|second|third|fourth|1st|2nd|3rd|4th)\s+(?:fiscal\s+)?quarter\s+(?:of\s+)?(?:fiscal\s+(?:year\s+)?)?(\d{4})\b",
    re.IGNORECASE,
)
_FISCAL_ZH = re.compile(r"(\d{4})\s*年?\s*(?:第\s*)?([一二三四1-4])\s*季度")
_PERIOD_ENDED = re.compile(
    r"for\s+the\s+(quarterly\s+period|fiscal\s+year|year|quarter|period|six\s+months|nine\s+months|three\s+months)"
    r"\s+ended\s*:?\s*",
    re.IGNORECASE,
)
_DATED = re.compile(r"\b(?:effective|dated|as\s+of|issued|last\s+updated|updated|version\s+date)\b[:\s]*", re.I)
_ZH_DATED = re.compile(r"(?:截至|截止|生效|发布|日期|自)")

_CORP_SUFFIX = (
    r"(?:(?i:Inc\.?|Incorporated|Corporation|Corp\.?|Ltd\.?|Limited)|Co\.|LLC|L\.L\.C\.|GmbH|AG|plc|PLC|"
    r"S\.A\.|N\.V\.|SE|LP|L\.P\.)"
)
_NOT_A_NAME = re.compile(r"\b(?:Stock\s+Market|Exchange|Nasdaq|NASDAQ|NYSE|Commission)\b")
_CORP_EN = re.compile(
    rf"\b((?:[A-Z][A-Za-z0-9&'.\-]*|&)(?:[ ,]+(?:[A-Z][A-Za-z0-9&'.\-]*|&|of|and)){{0,5}}),?\s+{_CORP_SUFFIX}(?=\W|$)"
)
_CORP_ZH = re.compile(r"([\u4e00-\u9fff（）()]{2,24}?(?:股份有限公司|有限责任公司|有限公司|集团))")
_REGISTRANT = re.compile(r"\n([^\n]{2,80})\n\s*\(Exact name of (?:the )?registrant", re.IGNORECASE)
_TICKER_TABLE = re.compile(
    r"\b([A-Z]{1,5}(?:\.[A-Z])?)\s+(?:The\s+)?(?:Nasdaq|NASDAQ|NYSE|New York Stock Exchange|Nyse)", re.UNICODE
)
_TICKER_PAREN = re.compile(r"\((?:NYSE|NASDAQ|Nasdaq|LSE|TSX|HKEX|SSE|SZSE)\s*:\s*([A-Z0-9]{1,6}(?:\.[A-Z]{1,2})?)\)")
_GENERIC_NAMES = {"the company", "company", "the registrant", "registrant", "the corporation"}

# (kind, patterns) in order of precedence: the first that matches the head of a document wins.
_KINDS: list[tuple[str, re.Pattern[str]]] = [
    ("quarterly report", re.compile(r"\bform\s+10-q\b|\bquarterly\s+report\b|季度报告|季报", re.I)),
    ("annual report", re.compile(r"\bform\s+10-k\b|\bannual\s+report\b|年度报告|年报", re.I)),
    ("current report", re.compile(r"\bform\s+8-k\b|\bcurrent\s+report\b", re.I)),
    ("prospectus", re.compile(r"\bprospectus\b|招股说明书", re.I)),
    ("contract", re.compile(r"\b(?:agreement|contract)\b|合同|协议", re.I)),
    ("policy", re.compile(r"\bpolicy\b|\bpolicies\b|政策|制度|规定", re.I)),
    ("handbook", re.compile(r"\bhandbook\b|员工手册", re.I)),
    ("manual", re.compile(r"\bmanual\b|\buser\s+guide\b|\binstructions\b|说明书|手册", re.I)),
    ("guide", re.compile(r"\bguide\b|\bguidelines?\b|指南|指引", re.I)),
    ("minutes", re.compile(r"\bminutes\b|会议纪要|纪要", re.I)),
    ("invoice", re.compile(r"\binvoice\b|发票", re.I)),
    ("press release", re.compile(r"\bpress\s+release\b|新闻稿", re.I)),
    ("research paper", re.compile(r"\babstract\b.{0,2000}\b(?:introduction|methods)\b|摘要", re.I | re.S)),
    ("report", re.compile(r"\breport\b|报告", re.I)),
]
_FORMS = re.compile(r"\bform\s+(10-Q|10-K|8-K|20-F|6-K|S-1)\b", re.I)


@dataclass
class Card:
    """What a document is. Every field may be empty; `line` is the one-line form stored with each chunk."""

    title: str = ""
    companies: list[str] = field(default_factory=list)
    tickers: list[str] = field(default_factory=list)
    kind: str = ""
    form: str = ""
    period: str = ""  # as the document states it, e.g. "quarterly period ended June 25, 2022"
    period_end: str = ""  # ISO date, e.g. "2022-06-25"
    fiscal: str = ""  # fiscal quarter as the document names it, e.g. "Q3 2022"
    language: str = ""
    file_name: str = ""

    @property
    def line(self) -> str:
        """One line, e.g. "Apple Inc. (AAPL) | quarterly report, Form 10-Q | quarterly period ended June 25, 2022
        (Q3 2022) | 2022 Q3 AAPL.pdf"."""
        parts = []
        who = ", ".join(self.companies[:2])
        if self.tickers:
            who += f" ({', '.join(self.tickers[:3])})"
        if who.strip():
            parts.append(who.strip())
        if self.title and self.title.lower() not in who.lower():
            parts.append(self.title)
        what = self.kind + (f", Form {self.form}" if self.form else "")
        if what:
            parts.append(what)
        when = self.period + (f" ({self.fiscal})" if self.fiscal else "")
        if when.strip():
            parts.append(when.strip())
        if self.file_name:
            parts.append(self.file_name)
        return " | ".join(parts)

    @property
    def end_date(self) -> date | None:
        try:
            return date.fromisoformat(self.period_end) if self.period_end else None
        except ValueError:
            return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Card:
        known = _CARD_FIELDS
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                continue
            if key in ("companies", "tickers"):
                values[key] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
            else:
                values[key] = str(value)
        return cls(**values)

    def aliases(self) -> list[str]:
        """Names a question may use for the company: full names and names without their legal suffix."""
        out: list[str] = []
        for name in self.companies:
            out.append(name)
            short = re.sub(rf"[,\s]+{_CORP_SUFFIX}$", "", name).strip(" ,")
            short = re.sub(r"\.(?:com|net|org)$", "", short, flags=re.I)
            short = re.sub(r"(股份有限公司|有限责任公司|有限公司|集团)$", "", short)
            if short and short.lower() not in _GENERIC_NAMES:
                out.append(short)
        return list(dict.fromkeys(a for a in out if len(a) >= 2))


_CARD_FIELDS = frozenset(f.name for f in fields(Card))


def _to_date(match: re.Match[str], kind: str) -> date | None:
    try:
        if kind == "en":
            return date(int(match.group(3)), _MONTHS[match.group(1).lower()], int(match.group(2)))
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except (ValueError, KeyError):
        return None


def find_dates(text: str) -> list[tuple[int, date]]:
    """(offset, date) of every full date written in English ("June 25, 2022"), ISO or Chinese form."""
    found = []
    for pattern, kind in ((_DATE_EN, "en"), (_DATE_ISO, "iso"), (_DATE_ZH, "zh")):
        for m in pattern.finditer(text):
            d = _to_date(m, kind)
            if d is not None:
                found.append((m.start(), d))
    return sorted(found)


def _fiscal_labels(text: str) -> list[str]:
    labels = []
    for m in _FISCAL_EN.finditer(text):
        if m.group(1):
            labels.append(f"Q{m.group(1)} {m.group(2)}")
        elif m.group(3):
            labels.append(f"Q{m.group(4)} {m.group(3)}")
        else:
            labels.append(f"Q{_ORDINAL[m.group(5).lower()]} {m.group(6)}")
    for m in _FISCAL_ZH.finditer(text):
        labels.append(f"Q{_ZH_QUARTER[m.group(2)]} {m.group(1)}")
    return labels


def _fiscal(pages: Sequence[Page], end: str) -> str:
    """The fiscal quarter the document names itself by: the label found on the most pages (on at least half of
    them, as a running footer is), of a year that can be the fiscal year of the period's end."""
    per_page: Counter[str] = Counter()
    for page in pages[:60]:
        per_page.update(set(_fiscal_labels(page.text)))
    years = None
    if end:
        year = int(end[:4])
        years = {str(year), str(year + 1)}
    fits = [(label, n) for label, n in per_page.most_common() if years is None or label[-4:] in years]
    if fits and fits[0][1] >= max(2, min(len(pages), 60) // 2):
        return fits[0][0]
    return ""


CJK_LANGUAGES = ("zh", "ja", "ko")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")


def language_of(text: str) -> str:
    """The language of `text`: for text written mostly in CJK by retrieval's own rule (`mostly_cjk`), "ja" with
    kana, "ko" with hangul, else "zh"; "en" for other letters; "" when there are none."""
    if mostly_cjk(text):
        return "ja" if _KANA.search(text) else "ko" if _HANGUL.search(text) else "zh"
    return "en" if any(ch.isalpha() for ch in text) else ""


def _title(head: str, meta_title: str, stem: str) -> str:
    if meta_title and re.search(r"[A-Za-z\u4e00-\u9fff]{3}", meta_title) and not re.fullmatch(r"[\d\-_.]+", meta_title):
        return meta_title.strip()[:120]
    for line in head.splitlines():
        line = line.strip().lstrip("#").strip()
        if len(line) >= 3 and re.search(r"[A-Za-z\u4e00-\u9fff]", line):
            return line[:120]
    return stem


def _companies(head: str) -> list[str]:
    names: list[str] = []
    m = _REGISTRANT.search(head)
    if m:
        names.append(m.group(1).strip())
    counts: Counter[str] = Counter()
    for m in _CORP_EN.finditer(head):
        name = re.sub(r"\s+", " ", m.group(0)).strip(" ,")
        if _NOT_A_NAME.search(name):
            continue
        if name.lower() not in _GENERIC_NAMES and not name.lower().startswith(("the ", "and ", "of ")):
            counts[name] += 1
    for m in _CORP_ZH.finditer(head):
        counts[m.group(1)] += 1
    names += [name for name, _ in counts.most_common(3)]
    out: list[str] = []
    for name in names:
        if not any(name.lower() == o.lower() for o in out):
            out.append(name)
    return out[:3]


def _tickers(head: str) -> list[str]:
    found = [m.group(1) for m in _TICKER_PAREN.finditer(head)]
    if re.search(r"trading\s+symbol", head, re.I):
        found += [t for t in _TICKER_TABLE.findall(head) if t not in {"LLC", "THE", "INC"}]
    return list(dict.fromkeys(found))[:5]


def _period(head: str) -> tuple[str, str]:
    """(period as stated, ISO end date)."""
    m = _PERIOD_ENDED.search(head)
    if m:
        dates = find_dates(head[m.end() : m.end() + 40])
        if dates and dates[0][0] == 0:
            what = re.sub(r"\s+", " ", m.group(1)).lower()
            d = dates[0][1]
            return f"{what} ended {d:%B} {d.day}, {d.year}", d.isoformat()
    for pattern in (_DATED, _ZH_DATED):
        for m in pattern.finditer(head):
            dates = find_dates(head[m.end() : m.end() + 40])
            if dates and dates[0][0] <= 2:
                d = dates[0][1]
                return f"{m.group(0).strip(' :').lower()} {d.isoformat()}", d.isoformat()
    dates = find_dates(head[:1500])
    if dates:
        return dates[0][1].isoformat(), dates[0][1].isoformat()
    return "", ""


def read_sidecar(path: Path) -> dict[str, Any]:
    """The overrides in `NAME.card.json` beside `path`, or {} when there is none (or it is not valid JSON)."""
    sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def make_card(
    pages: Sequence[Page],
    file_name: str,
    meta_title: str = "",
    overrides: Mapping[str, Any] | None = None,
) -> Card:
    """The card of a document from its pages (the first few are read) and its file name and metadata."""
    head = ""
    for page in pages:
        head += page.text + "\n"
        if len(head) >= _HEAD_CHARS:
            break
    head = head[:_HEAD_CHARS]
    stem = PurePath(file_name).stem
    kind = next((name for name, pattern in _KINDS if pattern.search(head[:3000])), "")
    form = _FORMS.search(head[:3000])
    period, end = _period(head)
    form_code = form.group(1).upper() if form else ""
    card = Card(
        title="" if form_code else _title(head, meta_title, stem),  # a filing's kind and form say it better
        companies=_companies(head),
        tickers=_tickers(head),
        kind=kind,
        form=form_code,
        period=period,
        period_end=end,
        fiscal=_fiscal(pages, end),
        language=language_of(head),
        file_name=PurePath(file_name).name,
    )
    if overrides:
        merged = {**card.to_dict(), **{k: v for k, v in overrides.items() if k in card.to_dict()}}
        card = Card.from_dict(merged)
    return card


# ---------------------------------------------------------------- questions

_LATEST = re.compile(r"\b(?:latest|most\s+recent|newest|last\s+(?:quarter|report|filing|10-[qk]))\b|最新|最近", re.I)
_MULTI = re.compile(
    r"\b(?:over\s+time|changed?|trend|compare|comparison|versus|vs\.?|across|each|both|between|all)\b|比较|对比|变化",
    re.I,
)
_YEAR = re.compile(r"\b(19|20)\d{2}\b")


@dataclass(frozen=True)
class QuestionScope:
    """What a question says about the documents it is about (rag.retrieve turns it into sources)."""

    companies: tuple[str, ...] = ()  # the names or tickers found, as written in the question
    dates: tuple[date, ...] = ()
    fiscal: tuple[str, ...] = ()  # "Q2 2023"
    years: tuple[int, ...] = ()
    kinds: tuple[str, ...] = ()
    latest: bool = False
    multi: bool = False  # asks across documents or periods


def _word_in(needle: str, text: str, case: bool) -> bool:
    flags = 0 if case else re.IGNORECASE
    if re.search(r"[\u4e00-\u9fff]", needle):
        return needle in text
    return re.search(rf"(?<![\w]){re.escape(needle)}(?![\w])", text, flags) is not None


def company_matches(question: str, card: Card) -> list[str]:
    """The card's names or tickers the question uses (tickers in capitals only)."""
    found = [a for a in card.aliases() if _word_in(a, question, case=False)]
    found += [t for t in card.tickers if _word_in(t, question, case=True)]
    return found


def question_scope(question: str, cards: Iterable[Card]) -> QuestionScope:
    companies: list[str] = []
    for card in cards:
        companies += company_matches(question, card)
    kinds = [name for name, pattern in _KINDS[:-2] if pattern.search(question)]
    return QuestionScope(
        companies=tuple(dict.fromkeys(companies)),
        dates=tuple(d for _, d in find_dates(question)),
        fiscal=tuple(dict.fromkeys(_fiscal_labels(question))),
        years=tuple(int(m.group(0)) for m in _YEAR.finditer(question)),
        kinds=tuple(kinds),
        latest=_LATEST.search(question) is not None,
        multi=_MULTI.search(question) is not None,
    )


def period_matches(scope: QuestionScope, card: Card, weak: bool = False) -> bool:
    """The question names the period this document covers: its end date, or its fiscal quarter as the
    document or its file name states it ("Q2 2023", "2023 Q2"). With `weak`, also the calendar quarter its
    period ends in (a quarterly report ending September 30, 2023 covers calendar "Q3 2023"), which a reader
    may mean when the document's own fiscal quarters differ."""
    end = card.end_date
    if end is not None and end in scope.dates:
        return True
    labels = {card.fiscal} if card.fiscal else set()
    labels.update(_fiscal_labels(PurePath(card.file_name).stem))
    if weak and end is not None and card.kind == "quarterly report":
        labels.add(f"Q{(end.month - 1) // 3 + 1} {end.year}")
    return any(f in labels for f in scope.fiscal)
