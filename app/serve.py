"""`ragqa serve`: the RAG pipeline as an OpenAI-compatible HTTP API (Starlette + uvicorn), so Open WebUI,
LibreChat, editors and scripts can use the company documents as a model.

Routes: GET /v1/models and POST /v1/chat/completions (streaming or not; rag.chat_api says what goes in and out)
behind a bearer token (`RAGQA_SERVE__TOKEN`, required; compared in constant time, never logged); GET /healthz
(the process answers) and GET /readyz (the index opens and the models are warm: 503 until then), both open;
/readyz gives its reason only to a client with the token, and runs on a thread of its own, so it answers while
every worker thread streams an answer. Bounded input: a body past `serve.max_body_kb` gets 413, too many or too
long messages 400, a question when `serve.max_waiting` wait already (counted from admission, so a burst cannot
slip past) 429 with Retry-After. A warm-up that fails
(an LLM server not up yet) is tried again every `serve.warm_retry_s`. An error after a stream has begun ends it
with an error event and [DONE], never a cut connection.
Answers wait in the pipeline's queue like the app's; the index is followed as other processes change it.
Not here: the protocol's objects (rag.chat_api), answering (rag.answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rag.chat_api import BadRequest, completion, completion_chunks, error_body, parse_request
from rag.errors import ConfigError, RagError
from rag.pipeline import Pipeline

logger = logging.getLogger(__name__)


class _Readiness:
    """Warm the models in the background, again every `retry_s` while that fails; ready once it is done and the
    collection opens."""

    def __init__(self, pipeline: Pipeline, retry_s: float) -> None:
        self.pipeline = pipeline
        self.retry_s = retry_s
        self.warm = False
        self.problem = "warming up the models"
        self.attempts = 0
        threading.Thread(target=self._warm, name="ragqa-serve-warm-up", daemon=True).start()

    def _warm(self) -> None:
        while not self.warm:
            self.attempts += 1
            try:
                self.pipeline.warm_up()
                self.warm = True
            except Exception as exc:  # noqa: BLE001 - reported by /readyz and by the first question
                self.problem = f"warm-up failed (attempt {self.attempts}, next in {self.retry_s:g} s): {exc}"
                logger.warning("warm-up failed: %s; trying again in %g s", exc, self.retry_s)
                time.sleep(self.retry_s)

    def check(self) -> str | None:
        """None when ready, else why not."""
        if not self.warm:
            return self.problem
        try:
            self.pipeline.answerer.store.count()
        except RagError as exc:
            return str(exc)
        return None


def create_app(pipeline: Pipeline, token: str) -> Any:
    """The ASGI app over `pipeline`; clients must send `Authorization: Bearer <token>`."""
    import anyio.to_thread
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    if not token:
        raise ConfigError("`ragqa serve` needs a client token: set RAGQA_SERVE__TOKEN")
    expected = f"Bearer {token}".encode()
    limits = pipeline.settings.serve
    model_name = limits.model_name
    readiness = _Readiness(pipeline, limits.warm_retry_s)
    probe = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragqa-readyz")  # never behind the answers
    admitted = limits.max_waiting + pipeline.generator.slots  # answering or waiting for the model, at most
    places = threading.BoundedSemaphore(admitted)  # taken on admission, so a burst cannot slip past the limit

    def authorized(request: Request) -> bool:
        return hmac.compare_digest(request.headers.get("authorization", "").encode(), expected)

    def refused(request: Request) -> Response | None:
        if authorized(request):
            return None
        return JSONResponse(
            error_body("missing or wrong bearer token", "invalid_api_key"),
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    async def models(request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": model_name, "object": "model", "created": 0, "owned_by": "ragqa"}],
            }
        )

    async def chat(request: Request) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        raw = await _body(request, limits.max_body_kb << 10)
        if raw is None:
            return JSONResponse(error_body(f"the body is larger than {limits.max_body_kb} KB"), status_code=413)
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return JSONResponse(error_body("the body is not JSON"), status_code=400)
        if not places.acquire(blocking=False):
            busy = f"{admitted} questions are being answered or waiting for the model: try again shortly"
            return JSONResponse(error_body(busy, "rate_limit_error"), status_code=429, headers={"Retry-After": "5"})
        streaming = False
        try:
            asked = parse_request(body, limits.max_messages, limits.max_message_chars)
            answer = await run_in_threadpool(pipeline.answerer.ask, asked.question, None, asked.history)
            if asked.stream:
                streaming = True  # the place is given back when the stream ends
                events = _events(completion_chunks(answer, model_name), places.release)
                return StreamingResponse(events, media_type="text/event-stream")
            return JSONResponse(await run_in_threadpool(completion, answer, model_name))
        except BadRequest as exc:
            return JSONResponse(error_body(str(exc)), status_code=400)
        except RagError as exc:
            return JSONResponse(error_body(str(exc), "server_error"), status_code=503)
        except Exception:  # noqa: BLE001 - logged whole; the client gets a message, not a traceback
            logger.exception("answer failed")
            return JSONResponse(error_body("the answer failed (see the server log)", "server_error"), status_code=500)
        finally:
            if not streaming:
                places.release()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "time": time.time()})

    async def readyz(request: Request) -> Response:
        problem = await asyncio.get_running_loop().run_in_executor(probe, readiness.check)
        if problem is None:
            return JSONResponse({"status": "ready"})
        reason = {"reason": problem} if authorized(request) else {}  # error text only for clients with the token
        return JSONResponse({"status": "not ready", **reason}, status_code=503)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        # An answer holds a worker thread while it waits for the model and while it streams; with fewer threads
        # than answers waiting plus answering, the answering one could not get a thread for its next piece while
        # the waiting ones held them all: the server hung (seen with 45 streams against anyio's 40 threads).
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, admitted + 8)
        yield

    return Starlette(
        routes=[
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


async def _body(request: Any, limit: int) -> bytes | None:
    """The request body, or None when it is longer than `limit` bytes (read no further than that)."""
    if int(request.headers.get("content-length") or 0) > limit:
        return None
    body = b""
    async for part in request.stream():
        body += part
        if len(body) > limit:
            return None
    return body


def _events(chunks: Iterator[dict[str, Any]], done: Callable[[], None]) -> Iterator[str]:
    """Server-sent events; an error after the stream has begun becomes an error event, then [DONE]. `done` is
    called when the stream ends, however it ends (a client that went away included)."""
    try:
        try:
            for chunk in chunks:
                yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
        except RagError as exc:
            yield f"data: {json.dumps(error_body(str(exc), 'server_error'))}\n\n"
        except Exception:  # noqa: BLE001 - logged whole; the client gets an error event and [DONE], not a cut stream
            logger.exception("answer failed mid-stream")
            yield f"data: {json.dumps(error_body('the answer failed (see the server log)', 'server_error'))}\n\n"
        yield "data: [DONE]\n\n"
    finally:
        done()


def serve(pipeline: Pipeline, host: str, port: int) -> None:
    """Run the API until interrupted."""
    import uvicorn

    token = pipeline.settings.serve.token
    app = create_app(pipeline, token.get_secret_value() if token else "")
    uvicorn.run(app, host=host, port=port, log_level="warning")
