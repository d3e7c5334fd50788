"""`ragqa serve`: the RAG pipeline as an OpenAI-compatible HTTP API (Starlette + uvicorn), so Open WebUI,
LibreChat, editors and scripts can use the company documents as a model.

Routes: GET /v1/models and POST /v1/chat/completions (streaming or not; rag.chat_api says what goes in and out)
behind a bearer token (`RAGQA_SERVE__TOKEN`, required; compared in constant time, never logged); GET /healthz
(the process answers) and GET /readyz (the index opens and the models are warm: 503 until then), both open.
Answers wait in the pipeline's queue like the app's; the index is followed as other processes change it.
Not here: the protocol's objects (rag.chat_api), answering (rag.answer).
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from rag.chat_api import BadRequest, completion, completion_chunks, error_body, parse_request
from rag.errors import ConfigError, RagError
from rag.pipeline import Pipeline

logger = logging.getLogger(__name__)


class _Readiness:
    """Warm the models in the background; ready once that is done and the collection opens."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.warm = False
        self.problem = "warming up the models"
        threading.Thread(target=self._warm, name="ragqa-serve-warm-up", daemon=True).start()

    def _warm(self) -> None:
        try:
            self.pipeline.warm_up()
            self.warm = True
        except Exception as exc:  # noqa: BLE001 - reported by /readyz and by the first question
            self.problem = f"warm-up failed: {exc}"
            logger.warning("warm-up failed: %s", exc)

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
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    if not token:
        raise ConfigError("`ragqa serve` needs a client token: set RAGQA_SERVE__TOKEN")
    expected = f"Bearer {token}".encode()
    model_name = pipeline.settings.serve.model_name
    readiness = _Readiness(pipeline)

    def refused(request: Request) -> Response | None:
        sent = request.headers.get("authorization", "").encode()
        if hmac.compare_digest(sent, expected):
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
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return JSONResponse(error_body("the body is not JSON"), status_code=400)
        try:
            asked = parse_request(body)
            answer = await run_in_threadpool(pipeline.answerer.ask, asked.question, None, asked.history)
        except BadRequest as exc:
            return JSONResponse(error_body(str(exc)), status_code=400)
        except RagError as exc:
            return JSONResponse(error_body(str(exc), "server_error"), status_code=503)
        if not asked.stream:
            try:
                return JSONResponse(await run_in_threadpool(completion, answer, model_name))
            except RagError as exc:
                return JSONResponse(error_body(str(exc), "server_error"), status_code=503)
        return StreamingResponse(_events(completion_chunks(answer, model_name)), media_type="text/event-stream")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "time": time.time()})

    async def readyz(request: Request) -> Response:
        problem = await run_in_threadpool(readiness.check)
        if problem is None:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready", "reason": problem}, status_code=503)

    return Starlette(
        routes=[
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ]
    )


def _events(chunks: Iterator[dict[str, Any]]) -> Iterator[str]:
    """Server-sent events; an error after the stream has begun becomes an error event, then [DONE]."""
    try:
        for chunk in chunks:
            yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
    except RagError as exc:
        yield f"data: {json.dumps(error_body(str(exc), 'server_error'))}\n\n"
    yield "data: [DONE]\n\n"


def serve(pipeline: Pipeline, host: str, port: int) -> None:
    """Run the API until interrupted."""
    import uvicorn

    token = pipeline.settings.serve.token
    app = create_app(pipeline, token.get_secret_value() if token else "")
    uvicorn.run(app, host=host, port=port, log_level="warning")
