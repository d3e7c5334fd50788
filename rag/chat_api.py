"""The OpenAI chat-completions protocol over the RAG pipeline, without a web framework: a request's messages
become a question and the conversation before it, and an answer becomes completion objects (whole, or as
streamed chunks) that carry the sources twice: as a footnote list at the end of the text, for any client, and
in the extra field `sources` (a list of {n, file, source, page, score, text}), for clients that read it.

Earlier assistant messages are taken as the conversation so far: the follow-up rewrite reads them (their
footnote lists are cut off first). Not here: HTTP, authentication and the server (app.serve).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from rag.answer import AnswerStream, Turn
from rag.types import Source

SOURCES_HEADING = "\n\nSources:\n"
MAX_QUESTION_CHARS = 4000


class BadRequest(ValueError):
    """The request does not follow the protocol (answered with HTTP 400)."""


@dataclass(frozen=True)
class ChatRequest:
    question: str
    history: list[Turn]
    stream: bool
    model: str


def _text(content: Any) -> str:
    """A message's content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    if content is None:
        return ""
    raise BadRequest("message content must be a string or a list of text parts")


def parse_request(body: Any, max_messages: int = 64, max_message_chars: int = 16000) -> ChatRequest:
    """Check a /v1/chat/completions body and take out the question and the conversation before it; a request
    with more than `max_messages` messages, or an earlier one longer than `max_message_chars`, is refused."""
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list")
    if len(messages) > max_messages:
        raise BadRequest(
            f"at most {max_messages} messages per request ({len(messages)} sent): send fewer earlier turns"
        )
    turns: list[tuple[str, str]] = []
    pending: str | None = None
    for message in messages:
        if not isinstance(message, dict) or "role" not in message:
            raise BadRequest("each message needs a 'role' and 'content'")
        role, text = message["role"], _text(message.get("content")).strip()
        if len(text) > max_message_chars:
            raise BadRequest(f"a message is longer than {max_message_chars} characters: send a shorter conversation")
        if role == "user":
            pending = text
        elif role == "assistant" and pending is not None:
            turns.append((pending, strip_sources(text)))
            pending = None
        elif role not in ("system", "developer", "assistant", "tool"):
            raise BadRequest(f"unknown message role {role!r}")
    if messages[-1].get("role") != "user" or not pending:
        raise BadRequest("the last message must be a non-empty user message (the question)")
    if len(pending) > MAX_QUESTION_CHARS:
        raise BadRequest(f"the question is longer than {MAX_QUESTION_CHARS} characters")
    history = [Turn(question=q, answer=a, user_content=q) for q, a in turns]
    return ChatRequest(pending, history, bool(body.get("stream", False)), str(body.get("model") or ""))


def strip_sources(answer: str) -> str:
    """An earlier answer without the footnote list this API appended to it."""
    cut = answer.rfind(SOURCES_HEADING.strip("\n"))
    return answer[:cut].rstrip() if cut > 0 else answer


def footnotes(sources: list[Source]) -> str:
    """The sources as a footnote list to append to the answer text ("" when there are none)."""
    if not sources:
        return ""
    return SOURCES_HEADING + "\n".join(s.citation() for s in sources)


def source_dicts(sources: list[Source]) -> list[dict[str, object]]:
    return [{**s.to_dict(), "file": PurePath(s.source).name} for s in sources]


def _base(model: str, object_: str) -> dict[str, Any]:
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": object_, "created": int(time.time()), "model": model}


def completion(answer: AnswerStream, model: str) -> dict[str, Any]:
    """The whole answer as one chat.completion object."""
    result = answer.consume()
    return {
        **_base(model, "chat.completion"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.answer + footnotes(result.sources)},
                "finish_reason": "stop",
            }
        ],
        "sources": source_dicts(result.sources),
    }


def completion_chunks(answer: AnswerStream, model: str) -> Iterator[dict[str, Any]]:
    """The answer as chat.completion.chunk objects: the role, the text piece by piece, the footnote list, and
    a last chunk with finish_reason and `sources`."""
    base = _base(model, "chat.completion.chunk")

    def chunk(delta: dict[str, str], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}

    yield chunk({"role": "assistant", "content": ""})
    for piece in answer:
        yield chunk({"content": piece})
    result = answer.result
    notes = footnotes(result.sources)
    if notes:
        yield chunk({"content": notes})
    yield chunk({}, "stop", sources=source_dicts(result.sources))


def error_body(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind}}
