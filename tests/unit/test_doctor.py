"""`ragqa doctor`: every check runs in a child; a child that dies by a signal is a FAILED line and exit code 1,
never a crash of the caller. (The checks of the real models: tests/integration/test_model_crash.py.)"""

from __future__ import annotations

import json

from app.cli import main
from rag import doctor


def test_a_check_whose_child_dies_by_a_signal_is_reported_not_propagated(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "_CHILD", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    assert main(["doctor"]) == 1
    out, err = capsys.readouterr()
    [line] = [line for line in out.splitlines() if line.startswith("FAILED  llama.cpp")]
    assert "crashed (signal 11, SIGSEGV): the llama.cpp build does not run on this CPU" in line
    assert "llama.cpp: could not be loaded" in out
    assert "a check failed" in err


def test_a_check_that_raises_is_reported_with_its_error(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "_CHILD", 'import sys; sys.stdout.write(\'{"error": "ImportError: no llama_cpp"}\\n\')')
    assert main(["doctor", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["checks"][0] == {
        "name": "llama.cpp",
        "role": "library",
        "ok": False,
        "summary": "ImportError: no llama_cpp",
        "figures": {},
    }


def test_with_no_model_installed_the_library_is_checked_and_the_doctor_fails(capsys):
    """The real library check in a child (fast: nothing is loaded but llama.cpp); the models folder is empty."""
    assert main(["doctor", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    library, models = report["checks"]
    assert library["ok"] and "AMX" not in library["figures"]["system_info"].upper()
    assert report["system_info"] == library["figures"]["system_info"]
    assert models == {
        "name": "models",
        "role": "llm",
        "ok": False,
        "summary": "no model is installed: run `ragqa models pull`",
        "figures": {},
    }
