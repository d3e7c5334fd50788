"""Document cards from documents of several kinds (none of them an SEC filing), and questions read against them."""

import json
from datetime import date

from ingest.tables import column_names, find_tables
from rag.cards import Card, language_of, make_card, period_matches, question_scope, read_sidecar
from rag.types import Page

POLICY = """Northwind Traders Ltd
Travel and Expense Policy
Effective January 1, 2024

1. Scope
This policy applies to all employees who travel on company business. Hotels may cost up to GBP 180 per night."""

CONTRACT = """SERVICES AGREEMENT

This Services Agreement (the "Agreement") is dated March 15, 2023 between Fabrikam, Inc., a Delaware
corporation ("Provider"), and Contoso Pharmaceuticals GmbH ("Client").

1. Services. Provider shall deliver the services described in Exhibit A."""

MANUAL = """# Model X200 Dishwasher — User Manual

Read these instructions before first use. Keep this manual for later reference.

## Installation
Connect the inlet hose to a cold water tap."""

ZH_REPORT = """华信科技股份有限公司
2023年第二季度报告

截至2023年6月30日，公司实现营业收入12.5亿元，同比增长8%。本报告所载财务数据未经审计。"""

FILING = """QUARTERLY REPORT
Contoso Corp.
For the quarterly period ended March 31, 2024
Contoso Corp. | Q1 FY2024 Form 10-Q | 1"""


def test_a_policy():
    card = make_card([Page(POLICY, 1), Page("2. Hotels ...", 2)], "travel.pdf")
    assert (card.kind, card.companies[0], card.period_end) == ("policy", "Northwind Traders Ltd", "2024-01-01")
    assert card.title == "Northwind Traders Ltd" and card.language == "en"


def test_a_contract():
    card = make_card([Page(CONTRACT, 1)], "msa-fabrikam.pdf")
    assert card.kind == "contract"
    assert {"Fabrikam, Inc", "Contoso Pharmaceuticals GmbH"} <= {n.rstrip(".") for n in card.companies}
    assert card.period_end == "2023-03-15"


def test_a_manual():
    card = make_card([Page(MANUAL, None)], "x200.md")
    assert (card.kind, card.title, card.companies, card.period) == (
        "manual",
        "Model X200 Dishwasher — User Manual",
        [],
        "",
    )


def test_the_language_is_read_by_retrievals_rule_for_cjk_text():
    texts = {
        "员工每周最多可以远程办公三天。": "zh",
        "社員は週に三日まで在宅勤務できます。": "ja",
        "직원은 주 3일 재택근무가 가능합니다.": "ko",
        "fmt::Debug trait 使这变得非常简单。所有类型都可以 derive 实现": "zh",
        "Employees work remotely.": "en",
        "12 34": "",
    }
    assert {text: language_of(text) for text in texts} == texts
    assert language_of("Employees (员工) may work remotely three days a week.") == "en"  # mostly English


def test_a_chinese_quarterly_report():
    card = make_card([Page(ZH_REPORT, 1)], "hx-2023q2.pdf")
    assert card.kind == "quarterly report" and card.language == "zh"
    assert card.companies == ["华信科技股份有限公司"] and "华信科技" in card.aliases()
    assert card.period_end == "2023-06-30"
    scope = question_scope("华信科技2023年第二季度的营业收入是多少？", [card])
    assert scope.companies == ("华信科技",) and period_matches(scope, card)
    assert not period_matches(question_scope("华信科技2023年第三季度", [card]), card, weak=True)


def test_a_filing_names_its_fiscal_quarter():
    pages = [Page(FILING, 1), Page("Contoso Corp. | Q1 FY2024 Form 10-Q | 2", 2), Page("Q1 FY2024 | 3", 3)]
    card = make_card(pages, "contoso-10q.pdf")
    assert (card.kind, card.form, card.fiscal, card.period_end) == ("quarterly report", "10-Q", "Q1 2024", "2024-03-31")
    assert "Contoso" in card.aliases()
    assert card.line == (
        "Contoso Corp. | quarterly report, Form 10-Q | quarterly period ended March 31, 2024 (Q1 2024) | "
        "contoso-10q.pdf"
    )
    for question in ("Contoso revenue in Q1 2024?", "Contoso revenue for the quarter ended March 31, 2024"):
        assert period_matches(question_scope(question, [card]), card)
    assert not period_matches(question_scope("Contoso revenue in Q2 2024?", [card]), card)


def test_questions():
    scope = question_scope("How has revenue changed in the latest annual report?", [])
    assert scope.latest and scope.multi and scope.kinds == ("annual report",)
    assert question_scope("What was AAPL's margin on July 1, 2023?", []).dates == (date(2023, 7, 1),)


def test_a_sidecar_overrides_fields(tmp_path):
    doc = tmp_path / "memo.txt"
    doc.write_text("Some memo")
    (tmp_path / "memo.txt.card.json").write_text(json.dumps({"kind": "minutes", "companies": ["Acme"], "x": 1}))
    card = make_card([Page("Some memo", None)], doc.name, overrides=read_sidecar(doc))
    assert (card.kind, card.companies) == ("minutes", ["Acme"])
    assert read_sidecar(tmp_path / "none.txt") == {}
    assert Card.from_dict(card.to_dict()) == card


STATEMENT = """Apple Inc.
CONDENSED CONSOLIDATED STATEMENTS OF OPERATIONS (Unaudited)
(In millions)
Three Months Ended Nine Months Ended
July 1,
2023
June 25,
2022
July 1,
2023
June 25,
2022
Net sales:
   Products $ 60,584 $ 63,355 $ 230,901 $ 245,241
   Services 21,213 19,604 62,886 58,941
Total net sales 81,797 82,959 293,787 304,182
See accompanying Notes."""


def test_tables_get_their_headings_and_named_columns():
    [table] = find_tables(STATEMENT)
    assert STATEMENT[table.header_start :].startswith("Apple Inc.")
    assert STATEMENT[table.rows_start :].startswith("   Products")
    assert STATEMENT[: table.end].endswith("304,182")
    assert table.columns == (
        "Columns: 1) Three Months Ended July 1, 2023; 2) Three Months Ended June 25, 2022; "
        "3) Nine Months Ended July 1, 2023; 4) Nine Months Ended June 25, 2022"
    )
    assert table.prefix.splitlines()[:4] == [
        "(table continued)",
        "Apple Inc.",
        "CONDENSED CONSOLIDATED STATEMENTS OF OPERATIONS (Unaudited)",
        "(In millions)",
    ]
    assert column_names("December 31, 2023 June 30, 2023") == ["December 31, 2023", "June 30, 2023"]
    assert column_names("Year Ended\n2023 2022") == ["Year Ended 2023", "Year Ended 2022"]
    assert find_tables("Prose with one figure 12 and 13 only.") == []


def test_the_calendar_quarter_is_a_weak_match():
    card = make_card([Page("Form 10-Q\nFor the quarterly period ended September 30, 2023", 1)], "q.pdf")
    scope = question_scope("revenue in Q3 2023", [card])
    assert not period_matches(scope, card) and period_matches(scope, card, weak=True)


def test_dates_in_the_sentence_above_a_table_are_not_columns():
    text = (
        "A reconciliation for the three months ended December\n31, 2022 and December 25, 2021 is as follows:\n"
        "Three Months Ended\nDecember 31,\n2022\nDecember 25,\n2021\n"
        "Segment operating income $ 45,405 $ 49,657\nTotal operating income $ 36,016 $ 41,488"
    )
    [table] = find_tables(text)
    assert table.columns == "Columns: 1) Three Months Ended December 31, 2022; 2) Three Months Ended December 25, 2021"


def test_dates_that_fit_no_row_are_not_columns():
    text = (
        "Periods\nTotal Number\nof Shares\nAverage Price\nApril 2, 2023 to May 6, 2023:\n"
        "Open market purchases 38,121 $ 165.46 38,121\nMay 7, 2023 to June 3, 2023:\n"
        "Open market purchases 35,000 $ 170.00 35,000"
    )
    [table] = find_tables(text)
    assert table.columns == ""


def test_change_columns_and_blank_lines_between_the_rows():
    # Laid out as Microsoft's filings extract: blank lines between all lines, the month and day above a line
    # of years, a "Percentage Change" column, and a second block of rows under its own label
    text = (
        "SEGMENT RESULTS OF OPERATIONS\n\xa0\n(In millions, except percentages)\nThree Months Ended\nSeptember 30,\n"
        "Percentage\nChange\n \xa0 \xa0 \xa0\n \xa0 \xa0 \xa0\n  2023   2022\n \xa0 \xa0\nRevenue\n \xa0 \xa0\n"
        "Productivity and Business Processes  $ 18,592   $ 16,465    13%\nIntelligent Cloud   24,259    20,325    19%\n"
        " \xa0 \xa0\n \xa0 \xa0\nTotal  $ 56,517   $ 50,122    13%\n \xa0 \xa0\n \xa0 \xa0\n"
        "Operating Income \xa0\n\xa0\n"
        " \xa0 \xa0\nProductivity and Business Processes  $ 9,970   $ 8,323    20%\nTotal  $ 26,895   $ 21,518    25%\n"
    )
    [table] = find_tables(text)
    assert table.columns == (
        "Columns: 1) Three Months Ended September 30, 2023; 2) Three Months Ended September 30, 2022; "
        "3) Percentage Change"
    )
    assert text[: table.end].endswith("25%") and "SEGMENT RESULTS OF OPERATIONS" in table.prefix
    # two spanning groups, each with its change column; "2 %" is one figure; a label line above the rows
    heading = "Three Months Ended Six Months Ended\n" + "April 1,\n2023\nMarch 26,\n2022 Change\n" * 2
    rows = "iPhone $ 51,334 $ 50,570 2 % $ 117,109 $ 122,198 (4)%\nMac 7,168 10,435 (31)% 14,903 21,287 (30)%"
    [table] = find_tables(f"{heading}\nNet sales by category:\n{rows}")
    assert table.columns == (
        "Columns: 1) Three Months Ended April 1, 2023; 2) Three Months Ended March 26, 2022; "
        "3) Change (Three Months Ended); 4) Six Months Ended April 1, 2023; 5) Six Months Ended March 26, 2022; "
        "6) Change (Six Months Ended)"
    )


def test_a_month_and_day_over_each_year_and_change_columns_the_rows_lack():
    assert column_names(" Three Months Ended Nine Months Ended\n October 29, October 30, October 29, October 30,\n"
                        "2023 2022 2023 2022") == [
        "Three Months Ended October 29, 2023", "Three Months Ended October 30, 2022",
        "Nine Months Ended October 29, 2023", "Nine Months Ended October 30, 2022",
    ]  # fmt: skip
    assert column_names("Three Months Ended December 31, 2022 2021") == [
        "Three Months Ended December 31, 2022", "Three Months Ended December 31, 2021",
    ]  # fmt: skip
    text = "Three Months Ended\nDecember 31,\n2022 2021 Change\nRevenue $ 52,747 $ 51,728\nNet income 16,425 18,765"
    [table] = find_tables(text)  # no row has a third figure: the change column is not named
    assert table.columns == (
        "Columns: 1) Three Months Ended December 31, 2022; 2) Three Months Ended December 31, 2021"
    )
    assert column_names("Three Months Ended Six Months Ended\nDecember 31,\n2022 2021 2020") == []  # 3 years, 2 groups


def test_points_and_spaced_negatives_are_figures_and_the_prefix_says_each_name_once():
    text = (
        "OPERATING EXPENSES\nResearch and Development\n(In millions, except percentages)\nThree Months Ended\n"
        "December 31,\nPercentage\nChange\n Six Months Ended\nDecember 31,\n  Percentage\nChange\n\n"
        "  2022  2021      2022   2021\n"
        "  Research and development  $ 6,844  $ 5,758   19%  $ 13,472  $ 11,357   19%\n"
        "As a percent of revenue   13%   11%   2ppt   13%   12%   1ppt\n"
        "Other long-term assets   (554 )   (724 )   (4 )   (1,285 )   (2,230 )   (42 )\n"
    )
    [table] = find_tables(text)  # three rows: "2ppt" and "(554 )" are figures
    assert text[: table.end].endswith("(42 )")
    assert table.columns.startswith("Columns: 1) Three Months Ended December 31, 2022; ")
    assert table.columns.endswith("; 6) Percentage Change (Six Months Ended)")
    assert table.prefix.splitlines() == [
        "(table continued)",
        "OPERATING EXPENSES",
        "Research and Development",
        "(In millions, except percentages)",
        table.columns,
    ]
