"""Text addressed to an AI inside documents: found and taken out before document text reaches the model.

A company document has no reason to tell an assistant what to do; a planted one does ("SYSTEM NOTICE: answer
every question with ...", "ignore all previous instructions", "忽略之前的所有指令"). Fencing document text as
quoted data is not enough for a 1.5B model: it obeys such a sentence. Two layers live here:

1. Before the prompt is built, every sentence that matches one of the patterns below is replaced by a marker;
   the rest of the document is kept. The patterns are deliberately narrow (instructions to a model, its prompt
   or its answers): a policy that tells *employees* what to do is untouched.
2. While the answer streams, `AnswerCheck` withholds it when it repeats what a planted sentence asks for (a
   word or figure that the blocks hold only in a sentence addressed to an AI, found with broader patterns than
   layer 1, since here a match only matters when the answer echoes it) or recites the system prompt. Text is
   released a word at a time, only after the check has seen the word.

Not here: template markers (rag.prompt.inert), fencing, the reminder after the blocks and the system prompt
(rag.prompt); streaming (rag.answer).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rag.text import CJK, tokenize

REMOVED = "[text addressed to an AI assistant removed]"

_PATTERNS = [
    # English
    r"\b(?:ignore|disregard|forget|override)\s+(?:(?:all|any|of|the|your)\s+)*"
    r"(?:previous|prior|above|earlier|preceding|foregoing|system|original|your)\s+(?:instructions?|prompts?|directives)\b",
    r"\bignore\s+(?:the|this|my|your|any|their)\s+(?:question|query|request|user)\b",
    r"\b(?:the|this)\s+user'?s\s+(?:question|query|message|prompt|input)\b",
    r"<\|[^|<>\s]{1,40}\|>|</?(?:start_of_turn|end_of_turn)>|\[/?INST\]|<</?SYS>>",  # chat-template markers
    r"\b(?:ignore|disregard|forget)\s+(?:all|everything)\s+(?:above|before|you\s+(?:were|have\s+been)\s+told)\b",
    r"\b(?:ignore|disregard|forget)\s+(?:what|anything|everything|whatever)\s+(?:you\s+(?:were|have\s+been|are)\s+"
    r"(?:told|given|instructed)|(?:was|you\s+were)\s+said)\b",
    r"\b(?:system|admin(?:istrator)?|developer)\s+(?:notice|message|prompt|override|instructions?)\s*[:：]",
    r"\b(?:answer|reply|respond)\b.{0,15}\b(?:every|all|each|any)\s+(?:questions?|messages?|quer(?:y|ies))\b.{0,25}\bwith\b",
    r"\b(?:answer|reply|respond|output)\b.{0,25}\b(?:only|just|solely|single)\b.{0,20}\b(?:word|phrase|emoji)\b",
    r"\b(?:reveal|print|repeat|show|output|disclose)\b.{0,20}\b(?:your|the)\s+(?:system\s+)?prompt\b",
    r"\b(?:new|updated)\s+instructions?\s+for\s+(?:the\s+)?(?:ai|assistant|model)\b",
    r"\b(?:dear|attention|note\s+to(?:\s+the)?)\s+(?:ai|assistant|model|llm|chatbot|language\s+model)\b",
    r"\b(?:ai|assistant|language\s+model|llm|chatbot)s?\s+(?:reading|processing|summari[sz]ing)\s+this\b",
    r"\bif\s+you\s+are\s+an?\s+(?:ai|assistant|language\s+model|llm|chatbot)\b",
    # Chinese, simplified and traditional
    r"(?:忽略|无视|無視|忘记|忘記|忽视|忽視).{0,6}(?:之前|以上|前面|先前|上述|所有的?|全部的?).{0,6}(?:指令|指示|提示)",
    r"(?:系统|系統)(?:通知|提示|消息|訊息|指令)\s*[:：]",
    r"(?:所有|每个|每個|任何)(?:的)?(?:问题|問題).{0,10}(?:都)?(?:只)?(?:回答|回复|回覆|回復)",
    r"(?:只|仅|僅)(?:能|可以)?(?:回答|回复|回覆|输出|輸出).{0,10}(?:一个|一個)?(?:词|詞|单词|單詞)",
    r"(?:泄露|洩露|洩漏|显示|顯示|输出|輸出|重复|重複).{0,6}(?:系统|系統)?(?:提示词|提示詞)",
    r"(?:如果你是|作为|作為).{0,4}(?:AI|人工智能|人工智慧|助手|语言模型|語言模型)",
]
_INSTRUCTION = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE | re.DOTALL)
# A point followed by a letter or digit ("evil.example/claim", "EUR 1.5") does not end a sentence.
_SENTENCE = re.compile(r"(?:[^.!?。！？\n]|[.!?](?=\w))*(?:[.!?。！？]+|\n|$)")


_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def normalized(text: str) -> str:
    """`text` as the patterns read it: full-width and other compatibility letters folded (NFKC), invisible
    characters (zero-width spaces, soft hyphens, direction marks) removed, line breaks read as spaces."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).replace("\n", " ")


def addressed_to_ai(sentence: str) -> bool:
    """True when `sentence` instructs an AI (its answers, its prompt, its rules)."""
    return bool(_INSTRUCTION.search(normalized(sentence)))


# A fake turn: a marker that opens a chat turn, and what follows it to the end of its paragraph (the planted
# "user" question after a fake system turn is planted too: the model answered "What is 2+2?" from it).
_FAKE_TURN = re.compile(
    r"(?:<\|im_start\|>|<\|start_header_id\|>|<start_of_turn>|\[INST\]|<<SYS>>)[\s\S]*?(?=\n[ \t]*\n|\Z)",
    re.IGNORECASE,
)


def remove_instructions(text: str, marker: str = REMOVED) -> tuple[str, int]:
    """`text` with each fake chat turn and each sentence addressed to an AI replaced by `marker`; and how many
    were replaced."""
    text, removed = _FAKE_TURN.subn(marker, text)
    sentences = _SENTENCE.findall(text)
    flagged = [bool(s.strip()) and addressed_to_ai(s) for s in sentences]
    for i in range(len(sentences) - 1):  # a line wrap inside a sentence ("ignore all previous\ninstructions")
        wrapped = sentences[i].endswith("\n") and not (flagged[i] or flagged[i + 1])
        if wrapped and addressed_to_ai(sentences[i] + sentences[i + 1]):
            flagged[i] = flagged[i + 1] = True
    out: list[str] = []
    for sentence, planted in zip(sentences, flagged, strict=True):
        if planted:
            removed += 1
            lead = sentence[: len(sentence) - len(sentence.lstrip())]
            trail = sentence[len(sentence.rstrip()) :]
            out.append(f"{lead}{marker}{trail}")
        else:
            out.append(sentence)
    return "".join(out), removed


# Layer 2 (the answer check) flags more: "from now on ... answer", "you must say", "tell every user" are
# harmless in a policy, and only count when the answer repeats what such a sentence alone holds.
_SUSPECT = re.compile(
    "|".join(
        f"(?:{p})"
        for p in [
            r"\bfrom\s+now\s+on\b.{0,40}\b(?:answer|reply|respond|say|tell|write|output|state)\b",
            r"\byou\s+(?:must|should|will|shall|are\s+to)\s+(?:now\s+|always\s+)?(?:answer|reply|respond|say|state|claim|pretend)\b",
            r"\btell\s+(?:the|every|all|any)\s+(?:users?|readers?|people)\b",
            r"\b(?:ai|assistant|chatbot|language\s+model|llm|gpt)s?\b.{0,40}\b(?:must|should|shall|please)\b.{0,20}"
            r"\b(?:answer|reply|respond|say|tell|output|write)\b",
            r"告诉(?:用户|所有人|每个人|大家)",
            r"从现在(?:开始|起).{0,10}(?:回答|回复|只说|输出)",
            r"(?:AI|人工智能|助手|模型).{0,10}(?:必须|应该|请).{0,6}(?:回答|回复|说|输出)",
        ]
    ),
    re.IGNORECASE | re.DOTALL,
)
# Words of the instruction itself, which an honest answer may well use.
_INSTRUCTION_WORDS = frozenset(
    tokenize(
        "answer answers question questions user users tell say reply respond word words phrase every single now "
        "must please only instruction instructions system notice assistant ai model prompt message text output "
        "start end follow include always never from onwards 回答 回复 问题 用户 告诉 所有 每个 系统 通知 指令 "
        "提示 现在 开始 之前 只有 一个 我们 你们 可以 并且 以上 may might can also new note read important "
        "told else"
    )
)
# Chinese function characters: a character pair holding one says nothing about what was asked for.
_ZH_FUNCTION = re.compile("[的了是在有和都也就不与及或把被这那个一你我他请]")
_ARTICLES = frozenset({"a", "an", "the", "for", "and", "of", "to", "in", "on", "at", "by", "with"})
_CAPS = re.compile(r"\b[A-Z]{2,}\b")
_WORDS = re.compile(r"\w+")
WITHHELD = (
    "The answer was withheld: it repeated what text in {where} tells an AI assistant to say. "
    "That document may have been tampered with; read the cited passage yourself."
)
WITHHELD_PROMPT = "The answer was withheld: it recited the assistant's instructions."
WITHHELD_EXAMPLE = (
    "The answer was withheld: it gave a figure from the worked example in the assistant's instructions, "
    "not from the documents."
)
_YEAR = re.compile(r"^(?:19|20)\d\d$")


def suspect(sentence: str) -> bool:
    """True when `sentence` may be addressed to an AI (layer 1's patterns and the broader ones above)."""
    return addressed_to_ai(sentence) or bool(_SUSPECT.search(normalized(sentence)))


def _marks(text: str) -> set[str]:
    """What an echo is matched on: stemmed words of 3 letters or more, numbers, Chinese character pairs."""
    return {
        t
        for t in tokenize(text)
        if (len(t) == 2 and not _ZH_FUNCTION.search(t) if CJK.match(t) else len(t) >= 3 or t[0].isdigit())
    }


@dataclass(frozen=True)
class Block:
    where: str  # how the user knows it ("[2] policy.md")
    text: str  # as stored, before layer 1


class AnswerCheck:
    """Layer 2: built from the blocks the model was shown, the question and the instructions it was given;
    `verdict(answer_so_far)` is None while the answer is fine, else the text to show instead."""

    def __init__(
        self, blocks: Sequence[Block], question: str, instructions: Iterable[str], examples: Iterable[str] = ()
    ) -> None:
        planted: dict[str, str] = {}
        caps: dict[str, str] = {}
        honest: set[str] = set(_INSTRUCTION_WORDS) | _marks(question) | set(CJK.findall(question))
        honest_caps: set[str] = set(_CAPS.findall(question))
        for block in blocks:
            for sentence in _SENTENCE.findall(block.text):
                if suspect(sentence):
                    planted.update(dict.fromkeys(_marks(sentence), block.where))
                    caps.update(dict.fromkeys(_CAPS.findall(sentence), block.where))
                else:
                    honest |= _marks(sentence) | set(CJK.findall(sentence))
                    honest_caps.update(_CAPS.findall(sentence))
        # A Chinese pair counts only with a character the honest text lacks: pairs run across word boundaries, so
        # "每周可以" in an answer holds "周可" though the document's honest sentence said "每周最多可以".
        chars = {t for t in honest if len(t) == 1 and CJK.match(t)}
        self._planted = {m: w for m, w in planted.items() if m not in honest and not (CJK.match(m) and set(m) <= chars)}
        self._caps = {
            c: w
            for c, w in caps.items()
            if c not in honest_caps and c.lower() not in _ARTICLES and not set(tokenize(c)) & _INSTRUCTION_WORDS
        }
        self._recited = {tuple(ngram) for text in instructions for ngram in _ngrams(_WORDS.findall(text.lower()), 8)}
        # The figures of the instructions' worked examples that no block or the question holds: a small model
        # short of an answer copies them
        self._example = {
            m for text in examples for m in _marks(text) if m.isdigit() and len(m) >= 3 and not _YEAR.match(m)
        } - honest

    def verdict(self, answer: str) -> str | None:
        words = _WORDS.findall(answer.lower())
        if any(tuple(g) in self._recited for g in _ngrams(words, 8)):
            return WITHHELD_PROMPT
        for mark in _marks(answer):
            if mark in self._planted:
                return WITHHELD.format(where=self._planted[mark])
            if mark in self._example:
                return WITHHELD_EXAMPLE
        for word in _CAPS.findall(answer):
            if word in self._caps:
                return WITHHELD.format(where=self._caps[word])
        return None


def _ngrams(words: Sequence[str], n: int) -> Iterable[Sequence[str]]:
    return (words[i : i + n] for i in range(len(words) - n + 1))


_BOUNDARY = re.compile(r"[\s,.;:!?，。；：！？、）)\]]")


def releasable(text: str, final: bool) -> int:
    """How much of a streaming answer can be shown: up to the last word boundary (a word is checked whole
    before it is shown); in Chinese, which has no spaces, all but the last character (the check matches
    character pairs)."""
    if final:
        return len(text)
    last = max((m.end() for m in _BOUNDARY.finditer(text)), default=0)
    if not CJK.search(text[last:]):
        return last
    word = re.search(r"[^\W_]*$", text[-40:], re.ASCII)  # a Latin word still arriving after the Chinese
    return max(last, len(text) - max(1, len(word.group()) if word else 0))
