"""The ragqa CLI in fake mode: JSON shapes, exit codes, errors without tracebacks."""

import json

import pytest

from app.cli import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, main
from tests.conftest import SAMPLE


@pytest.fixture(autouse=True)
def fake_mode(monkeypatch):
    monkeypatch.setenv("RAGQA_MODE", "fake")
    monkeypatch.setenv("RAGQA_RETRIEVE__MIN_SCORE", "0.0")


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_ingest_json_then_unchanged(capsys, tmp_path):
    code, out, _ = run(capsys, "ingest", str(SAMPLE), "--index", str(tmp_path / "i"), "--json")
    report = json.loads(out)
    assert code == EXIT_OK
    assert set(report) == {
        "files_seen",
        "files_indexed",
        "files_unchanged",
        "files_failed",
        "chunks_added",
        "chunks_total",
        "seconds",
    }
    assert report["files_indexed"] == 4 and report["files_failed"] == []
    code, out, _ = run(capsys, "ingest", str(SAMPLE), "--index", str(tmp_path / "i"), "--json")
    again = json.loads(out)
    assert (code, again["chunks_added"], again["files_unchanged"]) == (EXIT_OK, 0, 4)


def test_ingest_with_failures_exits_3(capsys, tmp_path):
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"nope")
    code, out, err = run(capsys, "ingest", str(SAMPLE / "employee-handbook.md"), str(bad), "--json")
    assert code == EXIT_PARTIAL
    assert json.loads(out)["files_failed"] == [
        {"path": str(bad), "error": "not a PDF: the file does not start with a PDF header"}
    ]
    assert "Traceback" not in err


def test_ask_json(capsys, tmp_path):
    run(capsys, "ingest", str(SAMPLE), "--index", str(tmp_path / "i"))
    code, out, _ = run(
        capsys, "ask", "What is the per diem for meals?", "--index", str(tmp_path / "i"), "--k", "2", "--json"
    )
    answer = json.loads(out)
    assert code == EXIT_OK
    assert set(answer) == {"answer", "sources", "timings", "unsupported"}
    assert [s["n"] for s in answer["sources"]] == [1, 2]
    assert set(answer["sources"][0]) == {"n", "source", "page", "score", "text"}
    assert set(answer["timings"]) == {"retrieve_s", "first_token_s", "total_s"}


def test_ask_prints_answer_then_sources(capsys, tmp_path):
    run(capsys, "ingest", str(SAMPLE / "expense-policy.pdf"), "--index", str(tmp_path / "i"))
    code, out, _ = run(capsys, "ask", "per diem", "--index", str(tmp_path / "i"), "--k", "1")
    assert code == EXIT_OK
    assert out.startswith("Fake answer [1].\n\nSources:\n  [1] expense-policy.pdf, page ")


def test_errors_are_messages_not_tracebacks(capsys, tmp_path):
    code, _, err = run(capsys, "ask", "anything", "--index", str(tmp_path / "empty"))
    assert code == EXIT_ERROR and "run `ragqa ingest PATH` first" in err and "Traceback" not in err
    code, _, err = run(capsys, "ingest", str(SAMPLE), "--collection", "x")
    assert code == EXIT_ERROR and "invalid collection name 'x'" in err


def test_real_mode_without_models_says_what_to_run(capsys, monkeypatch):
    monkeypatch.setenv("RAGQA_MODE", "real")
    code, _, err = run(capsys, "ingest", str(SAMPLE))
    assert code == EXIT_ERROR and "ragqa models pull all-minilm-l6-v2" in err


def test_an_empty_question_is_a_usage_error(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["ask", "   ", "--index", str(tmp_path / "i")])
    assert exit_.value.code == 2 and "the question is empty" in capsys.readouterr().err


def test_an_unexpected_error_is_one_line(capsys, tmp_path, monkeypatch):
    (tmp_path / "i").mkdir()
    (tmp_path / "i" / "records.sqlite3").write_bytes(b"this is not a database" * 100)  # a corrupt index file
    code, _, err = run(capsys, "ask", "hotel limit?", "--index", str(tmp_path / "i"))
    assert code == EXIT_ERROR and "Traceback" not in err and err.startswith("ragqa: error: ")
    assert "-v" in err and len(err.strip().splitlines()) == 1


def test_the_app_launcher_passes_the_safety_options_wherever_it_starts():
    from app.cli import streamlit_command

    command = streamlit_command("127.0.0.1", 8600)
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4].endswith("/app/main.py")
    assert command[4].startswith("/")  # absolute: any working folder
    for option in (
        "--server.address=127.0.0.1",
        "--server.port=8600",
        "--server.maxUploadSize=20",
        "--browser.gatherUsageStats=false",
        "--client.showErrorDetails=type",
        "--server.headless=true",
    ):
        assert option in command
