"""The real app in a real browser: `ragqa app` (Streamlit with the app's safety options) on a free localhost
port with the real pipeline over data/sample/ (all-MiniLM-L6-v2, persistent Chroma, the small GGUF), driven by
Debian's headless Chromium through Playwright. Screenshots go to tests/browser/screenshots/ (git-ignored).

`make test` installs Chromium (apt) and Playwright (pip) and sets REQUIRE_BROWSER_TEST=1, so there a missing
browser fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ingest.index import Indexer
from rag.pipeline import build_pipeline
from rag.settings import load_settings
from tests.conftest import REAL_MODELS, ROOT, SAMPLE, free_port
from tests.fixtures.make_pdf import pdf_bytes
from tests.fixtures.make_scan import scanned_page

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parent / "screenshots"
ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TIMEOUT_MS = 120_000


def _require_browser():
    missing = []
    if not CHROMIUM.exists():
        missing.append("/usr/bin/chromium (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install playwright)")
    if missing:
        message = "browser test needs " + " and ".join(missing) + "; `make test` installs both"
        if os.environ.get("REQUIRE_BROWSER_TEST") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _require_browser()
    index = tmp_path_factory.mktemp("browser") / "index"
    env = {
        **os.environ,
        "RAGQA_INDEX_DIR": str(index),
        "RAGQA_MODELS_DIR": str(REAL_MODELS),
        "RAGQA_LLM__MODEL": "smollm2-135m",
        "RAGQA_LLM__MAX_TOKENS": "48",
    }
    settings = load_settings(environ=env)
    Indexer(build_pipeline(settings)).ingest([SAMPLE])
    port = free_port()
    log = (tmp_path_factory.mktemp("log") / "streamlit.log").open("w")
    proc = subprocess.Popen(  # `ragqa app`, as `make run` starts it
        [sys.executable, "-m", "app.cli", "app", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"streamlit did not start; see {log.name}")
    yield url, index, env
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


def _ask(page, placeholder: str, question: str, expect_sources: bool = True):
    box = page.get_by_placeholder(placeholder)
    box.wait_for(timeout=TIMEOUT_MS)
    box.fill(question)
    box.press("Enter")
    if not expect_sources:  # either sources or "not found": both end the turn
        page.get_by_text(re.compile(r"Sources \(|I could not find the answer")).last.wait_for(timeout=TIMEOUT_MS)
        return page
    sources = page.get_by_text("Sources (").last
    sources.wait_for(timeout=TIMEOUT_MS)
    sources.click()
    return page


def _open_page_view(page, label: str) -> None:
    """Open the last source's page view with that label; it must show the page with the passage marked."""
    images = page.locator('[data-testid="stImage"] img')
    before = images.count()
    page.get_by_text(label).last.click()
    images.nth(before).wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_text("The passage was not found on this page").count() == 0, "the page shows no mark"
    page.wait_for_timeout(500)  # the image painted


def test_chat_then_upload_then_isolation(server, browser, tmp_path):
    url, index, env = server
    requested: list[str] = []  # every request of both sessions: none may leave the machine
    alice_context = browser.new_context(viewport={"width": 1200, "height": 1400})
    alice_context.on("request", lambda r: requested.append(r.url))
    alice = alice_context.new_page()
    alice.set_default_timeout(TIMEOUT_MS)
    alice.goto(url)
    _ask(alice, "Ask a question about the company documents", "What is the hotel limit per night in London?")
    alice.get_by_text("expense-policy.pdf, page 2").first.wait_for()
    alice.screenshot(path=str(SHOTS / "chat-answer.png"), full_page=True)
    _open_page_view(alice, "Show page 2 of expense-policy.pdf with the passage marked")
    alice.screenshot(path=str(SHOTS / "chat-page-view.png"), full_page=True)

    doc = tmp_path / "quokka-budget.pdf"
    doc.write_bytes(pdf_bytes(["The Quokkastan office budget for 2027 is EUR 4,321 for snacks.", "Nothing here."]))
    alice.goto(f"{url}/upload")
    alice.locator('input[type="file"]').set_input_files(str(doc))
    alice.get_by_text(re.compile(r"quokka-budget\.pdf: ready, \d+ chunks")).first.wait_for()
    _ask(alice, "Ask about the uploaded document", "What is the Quokkastan office budget?")
    alice.get_by_text("quokka-budget.pdf, page 1").first.wait_for()
    alice.screenshot(path=str(SHOTS / "upload-answer.png"), full_page=True)

    scan = tmp_path / "wombat-scan.pdf"  # a scanned page: an image, no text layer
    scan_bytes = scanned_page(["Wombat Office Memo", "The wombat shelter budget for 2028 is EUR 7,654."])
    if scan_bytes is not None:
        scan.write_bytes(scan_bytes)
        alice.locator('input[type="file"]').set_input_files(str(scan))
        alice.get_by_text(re.compile(r"wombat-scan\.pdf: ready, 1 chunk, 1 page read by OCR")).first.wait_for()
        _ask(alice, "Ask about the uploaded document", "What is the wombat shelter budget for 2028?")
        cited = alice.get_by_text("wombat-scan.pdf, page 1, read by OCR").first
        cited.wait_for(state="attached")
        if not cited.is_visible():  # _ask opened the earlier turn's sources before this turn's were shown
            alice.get_by_text("Sources (").last.click()
        cited.wait_for()
        alice.screenshot(path=str(SHOTS / "upload-scanned-answer.png"), full_page=True)
        _open_page_view(alice, "Show page 1 of wombat-scan.pdf with the passage marked")
        alice.screenshot(path=str(SHOTS / "upload-scanned-page.png"), full_page=True)

    bob_context = browser.new_context()  # another browser session
    bob_context.on("request", lambda r: requested.append(r.url))
    bob = bob_context.new_page()
    bob.set_default_timeout(TIMEOUT_MS)
    bob.goto(f"{url}/upload")
    bob.get_by_text("Upload a document to ask about it.").wait_for()
    bob.goto(url)
    _ask(bob, "Ask a question about the company documents", "What is the Quokkastan office budget?", False)
    assert bob.get_by_text("quokka-budget.pdf").count() == 0
    bob.screenshot(path=str(SHOTS / "other-session.png"), full_page=True)
    for page_path in ("/documents", "/about"):
        bob.goto(f"{url}{page_path}")
        bob.wait_for_load_state("networkidle")
    outside = [r for r in requested if not r.startswith((url, "data:", "blob:", url.replace("http", "ws", 1)))]
    assert requested and not outside, outside

    cli = subprocess.run(
        [sys.executable, "-m", "app.cli", "ask", "What is the Quokkastan office budget?", "--json", "--k", "10"],
        cwd=ROOT, env={**env, "RAGQA_RETRIEVE__MIN_SCORE": "-1"}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    sources = [s["source"] for s in json.loads(cli.stdout)["sources"]]
    assert sources and not any("quokka" in s for s in sources)
