"""Evaluation metrics by hand, and `ragqa eval` end to end in fake mode (hashing embedder, replayed answers)."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from app.cli import main
from rag.errors import RagError
from rag.eval import (
    Evidence,
    QaItem,
    figure_in,
    figures,
    find_evidence,
    first_money,
    load_beir,
    load_questions,
    matches,
    mrr_at,
    ndcg_at,
    page_texts,
    recall_at,
)
from rag.types import Chunk
from tests.conftest import ROOT, SAMPLE
from tests.fixtures.make_pdf import pdf_bytes


def test_ranking_metrics():
    grades = {"a": 1, "b": 2}
    assert ndcg_at(["b", "a", "x"], grades) == pytest.approx(1.0)
    # a at rank 1 (gain 1), b at rank 3 (gain 2 / log2 4 = 1); ideal 2 + 1 / log2 3
    assert ndcg_at(["a", "x", "b"], grades) == pytest.approx(2.0 / (2 + 1 / 1.584962500721156))
    assert recall_at(["x", "a"], grades, 1) == 0 and recall_at(["x", "a"], grades, 2) == 0.5
    assert mrr_at(["x", "y", "b"], grades) == pytest.approx(1 / 3) and mrr_at(["x"], grades) == 0


def test_figures_and_matching():
    assert figures("Net sales were $82,959 million in 2022, up 2%.") == [
        Decimal("82959000000"), Decimal("2"), Decimal("82959"),
    ]  # fmt: skip
    assert first_money("In Q3 2022 sales were $82,959 million.") == Decimal("82959000000")
    assert figure_in(Decimal("82959000000"), "They were 82,959 (in millions).")
    assert figure_in(Decimal("23198000000"), "Cash from operations: $23.198 billion")
    assert not figure_in(Decimal("82959000000"), "They were 81,434.")
    # a percentage is no money figure: "40.215%" scaled is 40,215 million
    assert figure_in(Decimal("40215000000"), "The gross margin was 40.215%.")
    assert not figure_in(Decimal("40215000000"), "The gross margin was 40.215%.", money=True)
    assert figure_in(Decimal("40215000000"), "Gross margin: $40,215 million (42.1 %).", money=True)
    assert matches("/docs/2023 Q3 AAPL.pdf", ["*2023 Q3 AAPL*"]) and not matches("/d/2023 Q2 AAPL.pdf", ["*Q3*"])


def test_eval_retrieval_on_a_beir_folder(capsys, monkeypatch):
    monkeypatch.setenv("RAGQA_MODE", "fake")
    assert main(["eval", "retrieval", "--beir", str(ROOT / "tests" / "fixtures" / "zh-retrieval"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"ndcg@10", "recall@10", "recall@100", "mrr@10", "queries", "seconds"}
    assert out["queries"] == 40 and 0.5 < out["ndcg@10"] <= 1 and out["recall@100"] == 1.0


@pytest.fixture
def eval_qa(tmp_path, capsys, monkeypatch):
    """`ragqa eval qa --json` over a question CSV (fake models, no score threshold): its output and report."""
    monkeypatch.setenv("RAGQA_MODE", "fake")
    monkeypatch.setenv("RAGQA_RETRIEVE__MIN_SCORE", "0")

    def run(questions: str, docs: Path, k: int, *extra: str) -> tuple[dict, list[dict]]:
        csv = tmp_path / "q.csv"
        csv.write_text("Question,Source Docs,Answer\n" + questions, encoding="utf-8")
        report = tmp_path / "r.jsonl"
        args = ["eval", "qa", "--csv", str(csv), "--docs", str(docs), "--k", str(k), "--report", str(report)]
        assert main([*args, "--json", *extra]) == 0
        lines = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
        return json.loads(capsys.readouterr().out), lines

    return run


def test_eval_qa_on_a_question_csv(eval_qa):
    questions = (
        '"How much may a hotel cost per night in London?",*expense-policy*,"EUR 220 per night"\n'
        '"员工每周最多可以远程办公几天？","*remote-work*,*nothing*","三天"\n'
    )
    out, lines = eval_qa(questions, SAMPLE, 2, "--retrieval-only")
    assert out["questions"] == 2 and out["k"] == 2 and out["answer_match"] is None
    assert out["source_hit@1"] == 1.0 == out["source_hit@k"]
    assert lines[1]["retrieved"][0]["file"] == "remote-work-guide-zh.md" and lines[1]["hit_at_1"]
    out, _ = eval_qa(questions, SAMPLE, 2)  # with answers: the fake generator's replies hold no gold figure
    assert out["answer_match"] == 0.0


def test_eval_qa_says_whether_the_gold_figure_reached_the_blocks(tmp_path, eval_qa):
    """Retrieval or the model? The gold answer's first `$` figure, found (exactly, in any scale) in the
    retrieved text or not."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "contoso-q2.txt").write_text(
        "Contoso's total revenue for the quarter was $1,640 million.", encoding="utf-8"
    )
    out, lines = eval_qa(
        "What was the revenue of Contoso in the quarter?,*contoso*,$1.64 billion\n"
        "What was the profit of Contoso in the quarter?,*contoso*,$999 million\n"
        "Where is Contoso based?,*contoso*,Oslo\n",
        docs,
        1,
        "--retrieval-only",
    )
    assert out["questions_with_money"] == 2 and out["first_money_in_blocks"] == 1
    assert [line["first_money_in_blocks"] for line in lines] == [True, False, None]


def _page(source: str, page: int | None, text: str, i: int = 0) -> Chunk:
    return Chunk(f"{source}#{page}-{i}", text, source, page, i, "h", "d")


PAGES = page_texts(
    [
        _page("/f/contoso-q2.pdf", 2, "Total revenue 1,640 1,502", 1),
        _page("/f/contoso-q2.pdf", 1, "Revenue grew on cloud demand."),
        _page("/f/contoso-q2.pdf", 2, "Condensed statements of operations (in millions)", 0),
        _page("/f/contoso-q2.pdf", 3, "Cash 812. Marketable securities 812."),
        _page("/f/contoso-q2.pdf", 4, "Cash and equivalents were $812 million."),
        _page("/f/contoso-q2.txt", None, "Total revenue 1,640"),
        _page("/f/fabrikam-q2.pdf", 1, "Revenue 1,640"),
    ]
)


def test_page_texts_join_a_pages_chunks_in_order_and_leave_out_pageless_ones():
    statement = "Condensed statements of operations (in millions)\nTotal revenue 1,640 1,502"
    assert PAGES["/f/contoso-q2.pdf"][2] == statement
    assert "/f/contoso-q2.txt" not in PAGES


def test_evidence_is_the_one_page_that_holds_the_gold_figure_or_what_the_csv_names():
    ask = "What was Contoso's revenue?"
    assert find_evidence(QaItem(ask, ("*contoso-q2*",), "$1.64 billion"), PAGES) == Evidence(
        "/f/contoso-q2.pdf", (2,), "gold figure"
    )
    assert find_evidence(QaItem(ask, ("*contoso-q2*",), "$812 million"), PAGES) is None  # on pages 3 and 4
    assert find_evidence(QaItem(ask, ("*contoso-q2*",), "$5 million"), PAGES) is None  # on no page
    assert find_evidence(QaItem(ask, ("*contoso-q2*",), "It grew."), PAGES) is None  # no figure to look for
    assert find_evidence(QaItem(ask, ("*q2*",), "$1.64 billion"), PAGES) is None  # two sources
    assert find_evidence(QaItem(ask, ("*contoso-q2*",), "grew", pages=(1,)), PAGES) == Evidence(
        "/f/contoso-q2.pdf", (1,), "page"
    )
    item = QaItem(ask, ("*contoso-q2*",), "grew", evidence="CLOUD   demand")
    assert find_evidence(item, PAGES) == Evidence("/f/contoso-q2.pdf", (1,), "string")


def test_evidence_columns_are_read_and_bad_pages_are_named(tmp_path):
    csv = tmp_path / "q.csv"
    csv.write_text("Question,Source Docs,Answer,Evidence Page,Evidence\nq1,*a*,x,12; 13,\nq2,*a*,x,,the  text\n")
    assert [(q.pages, q.evidence) for q in load_questions(csv)] == [((12, 13), ""), ((), "the text")]
    csv.write_text("Question,Source Docs,Answer,Evidence Page\nq1,*a*,x,twelve\n")
    with pytest.raises(RagError, match="row 2: Evidence Page must be page numbers"):
        load_questions(csv)


def test_eval_qa_scores_the_evidence_page(tmp_path, eval_qa):
    docs = tmp_path / "docs"
    docs.mkdir()
    pages = ["Contoso opened an office in Oslo.", "Contoso's total revenue for the quarter was $1,640 million."]
    (docs / "contoso-q2.pdf").write_bytes(pdf_bytes(pages))
    out, lines = eval_qa(
        "What was the total revenue of Contoso for the quarter?,*contoso*,$1.64 billion\n"
        "Where did Contoso open an office?,*contoso*,Oslo\n",
        docs,
        1,
        "--retrieval-only",
    )
    assert out["evidence_labelled"] == 1 and out["evidence_hit@1"] == 1.0 == out["evidence_hit@k"]
    assert lines[0]["evidence"] == {"source": str(docs / "contoso-q2.pdf"), "pages": [2], "derived_from": "gold figure"}
    assert lines[0]["evidence_hit_at_1"] and lines[1]["evidence"] is None
    assert (
        out["first_money_page_in_blocks"] == 1 and lines[0]["figure_page_hit"] and lines[1]["figure_page_hit"] is None
    )


def test_a_missing_column_is_a_clear_error(tmp_path, capsys):
    csv = tmp_path / "q.csv"
    csv.write_text("Q,A\nx,y\n")
    assert main(["eval", "qa", "--csv", str(csv), "--docs", str(SAMPLE), "--index", str(tmp_path / "i")]) == 1
    assert "lacks the column(s) Question, Source Docs" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["zh-retrieval", "zh-rust-retrieval", "mixed-retrieval"])
def test_the_chinese_retrieval_sets_are_whole(name):
    """Every question of the project's own sets is kept and judged, and every judged passage exists."""
    data = load_beir(ROOT / "tests" / "fixtures" / name)
    lines = (ROOT / "tests" / "fixtures" / name / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(data.queries) == len(lines) and all(data.queries.values())
    for qid, grades in data.qrels.items():
        assert any(g > 0 for g in grades.values()) and set(grades) <= set(data.corpus), qid
    assert len({text for _, text in data.corpus.values()}) == len(data.corpus)  # no passage twice
