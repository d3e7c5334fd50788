"""Text into index terms, shared by keyword search, retrieval, the look-up and the guard.

- English (any Latin script): lower-cased words, a short stop-word list dropped, Snowball (Porter 2) stems, so
  "revenues" finds "revenue"; numbers keep their digits and lose thousands separators ("82,959" = "82959").
- Chinese, Japanese kana and other CJK text: each character and the overlapping character bigrams, the
  dictionary-free way to index Chinese for BM25 (bigrams for precision, characters so that "丢了" still meets
  "丢失"; on tests/fixtures/zh-retrieval characters + bigrams put a relevant passage in the top 4 for 40 of
  40 questions, bigrams alone for 39). Chinese question words (什么, 多少, 吗, ...) are left out of questions.
Not here: the BM25 index these terms go into (rag.keyword).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_TOKEN = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+"  # CJK runs
    r"|\d+(?:[.,]\d+)*"  # numbers, with separators
    r"|[^\W\d_\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+"  # words (other scripts)
    r"(?:'[^\W\d_\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+)?",
    re.UNICODE,
)
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")

STOP_WORDS = frozenset(
    {
        "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at",
        "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could",
        "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has",
        "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if",
        "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor",
        "not", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over",
        "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them",
        "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under",
        "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom",
        "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves",
    }
)  # fmt: skip


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return str(_stemmer().stemWord(word))


# Chinese question words: never what a passage that answers says, so a question's bigrams skip them.
_ZH_QUESTION_WORDS = re.compile(r"为什么|什么|怎么样|怎么|怎样|如何|多少|哪些|哪个|哪里|哪儿|几个|是否|有没有|吗|呢|吧")


def mostly_cjk(text: str) -> bool:
    """At least a third of the text's letters are Chinese, Japanese or Korean."""
    cjk = len(CJK.findall(text))
    letters = sum(ch.isalpha() for ch in text)
    return letters > 0 and cjk * 3 >= letters


def tokenize(text: str, question: bool = False) -> list[str]:
    """Index tokens of `text`, in order (repeats kept: BM25 counts them). With `question`, Chinese question
    words are left out."""
    out: list[str] = []
    if question:
        text = _ZH_QUESTION_WORDS.sub(" ", text)
    for tok in _TOKEN.findall(text.lower()):
        if CJK.match(tok):
            out.extend(tok)  # characters
            out.extend(tok[i : i + 2] for i in range(len(tok) - 1))
        else:
            term = _term(tok)
            if term:
                out.append(term)
    return out


@lru_cache(maxsize=200_000)
def _term(tok: str) -> str:
    """The index term of a lower-cased word or number ("" for a stop word): cached, words repeat."""
    if tok[0].isdigit():
        tok = tok.replace(",", "")
        return tok.replace(".", "d") if tok.count(".") == 1 else tok.replace(".", "")
    tok = tok.removesuffix("'s").replace("'", "")
    return _stem(tok) if tok and tok not in STOP_WORDS else ""
