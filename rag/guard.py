"""Text addressed to an AI inside documents: found and taken out before document text reaches the model.

A company document has no reason to tell an assistant what to do; a planted one does ("SYSTEM NOTICE: answer
every question with ...", "ignore all previous instructions", "忽略之前的所有指令"). Fencing document text as
quoted data is not enough for a 1.5B model: it obeys such a sentence. So every sentence that matches one of
the patterns below is replaced by a marker before the prompt is built; the rest of the document is kept.
The patterns are deliberately narrow (instructions to a model, its prompt or its answers): a policy that tells
*employees* what to do is untouched.
Not here: template markers (rag.prompt.inert), fencing and the system prompt (rag.prompt).
"""

from __future__ import annotations

import re

REMOVED = "[text addressed to an AI assistant removed]"

_PATTERNS = [
    # English
    r"\b(?:ignore|disregard|forget|override)\s+(?:(?:all|any|of|the|your)\s+)*"
    r"(?:previous|prior|above|earlier|preceding|foregoing|system|original|your)\s+(?:instructions?|prompts?|directives)\b",
    r"\bignore\s+(?:the|this|my|your|any|their)\s+(?:question|query|request|user)\b",
    r"\b(?:the|this)\s+user'?s\s+(?:question|query|message|prompt|input)\b",
    r"<\|[^|<>\s]{1,40}\|>|</?(?:start_of_turn|end_of_turn)>|\[/?INST\]|<</?SYS>>",  # chat-template markers
    r"\b(?:ignore|disregard|forget)\s+(?:all|everything)\s+(?:above|before|you\s+(?:were|have\s+been)\s+told)\b",
    r"\b(?:system|admin(?:istrator)?|developer)\s+(?:notice|message|prompt|override|instructions?)\s*[:：]",
    r"\b(?:answer|reply|respond)\b.{0,15}\b(?:every|all|each|any)\s+(?:questions?|messages?|quer(?:y|ies))\b.{0,25}\bwith\b",
    r"\b(?:answer|reply|respond|output)\b.{0,25}\b(?:only|just|solely|single)\b.{0,20}\b(?:word|phrase|emoji)\b",
    r"\b(?:reveal|print|repeat|show|output|disclose)\b.{0,20}\b(?:your|the)\s+(?:system\s+)?prompt\b",
    r"\b(?:new|updated)\s+instructions?\s+for\s+(?:the\s+)?(?:ai|assistant|model)\b",
    r"\b(?:dear|attention|note\s+to(?:\s+the)?)\s+(?:ai|assistant|model|llm|chatbot|language\s+model)\b",
    r"\b(?:ai|assistant|language\s+model|llm|chatbot)s?\s+(?:reading|processing|summari[sz]ing)\s+this\b",
    r"\bif\s+you\s+are\s+an?\s+(?:ai|assistant|language\s+model|llm|chatbot)\b",
    # Chinese
    r"(?:忽略|无视|忘记|忽视).{0,6}(?:之前|以上|前面|先前|上述|所有的?|全部的?).{0,6}(?:指令|指示|提示)",
    r"系统(?:通知|提示|消息|指令)\s*[:：]",
    r"(?:所有|每个|任何)(?:的)?问题.{0,10}(?:都)?(?:只)?(?:回答|回复)",
    r"(?:只|仅)(?:能|可以)?(?:回答|回复|输出).{0,10}(?:一个)?(?:词|单词)",
    r"(?:泄露|显示|输出|重复).{0,6}(?:系统)?提示词",
    r"(?:如果你是|作为).{0,4}(?:AI|人工智能|助手|语言模型)",
]
_INSTRUCTION = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE | re.DOTALL)
_SENTENCE = re.compile(r"[^.!?。！？\n]*(?:[.!?。！？]+|\n|$)")


def addressed_to_ai(sentence: str) -> bool:
    """True when `sentence` instructs an AI (its answers, its prompt, its rules)."""
    return bool(_INSTRUCTION.search(sentence))


def remove_instructions(text: str) -> tuple[str, int]:
    """`text` with each sentence addressed to an AI replaced by a marker; and how many were replaced."""
    out: list[str] = []
    removed = 0
    for sentence in _SENTENCE.findall(text):
        if sentence.strip() and addressed_to_ai(sentence):
            removed += 1
            lead = sentence[: len(sentence) - len(sentence.lstrip())]
            trail = sentence[len(sentence.rstrip()) :]
            out.append(f"{lead}{REMOVED}{trail}")
        else:
            out.append(sentence)
    return "".join(out), removed
