"""Chunking, checked by hand: the fake tokenizer counts words, CJK characters and punctuation, +2 specials."""

from ingest.chunk import Chunker, chunk_id
from rag.fakes import HashingEmbedder
from rag.types import Page

COUNT = HashingEmbedder().count_tokens


def test_sentences_are_packed_up_to_the_size_and_never_split():
    c = Chunker(COUNT, window=12, max_tokens=10, overlap_tokens=0)
    text = "The cat sat. The dog ran far away. Birds fly high in the sky today."
    assert c.split(text) == ["The cat sat. The dog ran far away.", "Birds fly high in the sky today."]


def test_chinese_sentence_ends_are_boundaries():
    c = Chunker(COUNT, window=12, max_tokens=10, overlap_tokens=0)
    assert c.split("第一句话。第二句话很长很长。第三句！") == ["第一句话。", "第二句话很长很长。", "第三句！"]


def test_overlap_repeats_the_tail_of_the_previous_chunk():
    c = Chunker(COUNT, window=12, max_tokens=6, overlap_tokens=2)
    assert c.split("one two three four five six seven eight nine") == [
        "one two three four five six",
        "five six seven eight nine",
    ]


def test_a_word_longer_than_a_chunk_is_cut_only_then():
    c = Chunker(lambda ts: [len(t) + 2 for t in ts], window=8, max_tokens=6, overlap_tokens=0)
    assert c.split("abcdefghijkl xy") == ["abcdef", "ghijkl", "xy"]


def test_no_chunk_exceeds_the_window():
    c = Chunker(COUNT, window=20, max_tokens=18, overlap_tokens=3)
    text = " ".join(f"word{i}," for i in range(500)) + "。".join("中文句子" * 3 for _ in range(40))
    assert all(n <= 20 for n in COUNT(c.split(text)))


def test_chunks_carry_page_source_index_and_stable_ids():
    c = Chunker(COUNT, window=12, max_tokens=10, overlap_tokens=0)
    pages = [Page("Alpha beta. Gamma delta.", 1), Page("Epsilon zeta eta theta iota kappa lambda mu nu.", 2)]
    chunks = c.chunk(pages, "/docs/a.pdf", "d0c")
    assert [(ch.page, ch.chunk_index, ch.text) for ch in chunks] == [
        (1, 0, "Alpha beta. Gamma delta."),
        (2, 1, "Epsilon zeta eta theta iota kappa lambda mu nu."),
    ]
    assert chunks[0].id == chunk_id("/docs/a.pdf", "d0c", 1, 0, "Alpha beta. Gamma delta.")
    assert c.chunk(pages, "/docs/b.pdf", "d0c")[0].id != chunks[0].id
    assert [x.id for x in c.chunk(pages, "/docs/a.pdf", "d0c")] == [x.id for x in chunks]
    assert c.chunk(pages, "/docs/a.pdf", "other")[0].id != chunks[0].id
    assert chunks[1].metadata()["file_name"] == "a.pdf"


def test_a_table_split_across_chunks_repeats_its_headings_and_names_its_columns():
    rows = "\n".join(f"Line item {chr(97 + i % 26)} {i},100 {i},200 {i},300 {i},400" for i in range(60))
    page = (
        "CONSOLIDATED STATEMENTS OF OPERATIONS\n(In millions)\nThree Months Ended Nine Months Ended\n"
        f"July 1, 2023 June 25, 2022 July 1, 2023 June 25, 2022\n{rows}\nEnd of statement."
    )
    c = Chunker(COUNT, window=160, max_tokens=150, overlap_tokens=0)
    chunks = c.chunk([Page(page, 3)], "/f.pdf", "h", context="Contoso Corp. | quarterly report")
    assert len(chunks) >= 3
    columns = "Columns: 1) Three Months Ended July 1, 2023; 2) Three Months Ended June 25, 2022; 3) Nine Months"
    assert chunks[0].text.startswith("CONSOLIDATED STATEMENTS") and columns in chunks[0].text
    heading, named, first_row = chunks[0].text.split("\n")[3:6]  # the column names stand above the rows
    assert heading.startswith("July 1, 2023") and named.startswith(columns) and first_row.startswith("Line item a")
    for later in chunks[1:]:
        assert later.text.startswith("(table continued)\nCONSOLIDATED STATEMENTS OF OPERATIONS\n(In millions)")
        assert columns in later.text
    assert all(n <= 160 for n in COUNT([ch.embed_text for ch in chunks]))  # card line + headings fit the window
    assert all(ch.context == "Contoso Corp. | quarterly report" for ch in chunks)
