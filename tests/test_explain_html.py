"""The explanation's HTML page: self-contained and accessible, and in a real headless Chromium it
renders, every item's decision is visible, and every evidence link lands on an element of the page."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from imr_llm.api import Pipeline, load
from imr_llm.explain import explain
from imr_llm.explain.render import render
from conftest import LETTERS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium on this machine")
PAGES = ["synthetic_2016_multi.txt", "003_bd44697b6f0a7cef.txt", "002_e066e2eff228d9d9.txt", "synthetic_body_only.txt",
         "injection_mixed.txt"]  # the last: suspicious stretches left out of the letter, every link still lands


def _page(name: str, language: str):
    source = load(LETTERS / name)
    with Pipeline() as pipeline:
        det = pipeline.extract_source(source)
    expl = explain(det, source, language)
    return expl, render(expl, "html", source=source, source_name=name)


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: list[str] = []
        self.links: list[str] = []
        self.tags: list[str] = []
        self.html_lang = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "html":
            self.html_lang = a.get("lang")
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "a" and a.get("href", "").startswith("#"):
            self.links.append(a["href"][1:])


def _collect(html: str) -> _Collector:
    c = _Collector()
    c.feed(html)
    return c


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("name", PAGES)
def test_the_page_is_self_contained_accessible_and_every_link_resolves(name, language):
    expl, html = _page(name, language)
    c = _collect(html)
    assert c.html_lang == language
    assert '<pre class="letter" lang="en">' in html  # the letter itself is English
    assert "<link" not in html and 'src="http' not in html and "<script" not in html  # self-contained
    assert {"main", "header", "h1", "h2", "h3", "section", "article"} <= set(c.tags)
    assert "@media print" in html and "html { font-size: 125%; }" in html
    assert len(c.ids) == len(set(c.ids)), "ids are unique"
    assert set(c.links) <= set(c.ids), set(c.links) - set(c.ids)
    # every why point that has evidence links to its highlighted span, and the span links back
    for n, item in enumerate(expl.items, 1):
        for j, point in enumerate(item.why, 1):
            if point.evidence is not None:
                assert f"ev-{n}-{j}" in c.links and f"pt-{n}-{j}" in c.links
        assert f'data-decision="{item.decision}"' in html


@needs_chromium
@pytest.mark.browser
@pytest.mark.parametrize("language", ["en", "es"])
def test_the_page_renders_in_headless_chromium(tmp_path, language):
    expl, html = _page("synthetic_2016_multi.txt", language)
    page = tmp_path / "explanation.html"
    page.write_text(html, encoding="utf-8")
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=2000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    dom = proc.stdout
    assert expl.headline in dom, proc.stderr[-2000:]
    c = _collect(dom)
    assert c.html_lang == language
    # every item's decision is visible: its status sentence is in the rendered item
    for n, item in enumerate(expl.items, 1):
        block = dom[dom.index(f'id="item-{n}"'):]
        block = block[: block.index("</article>")]
        assert item.status.split(" — ")[0] in block and f'data-decision="{item.decision}"' in block
    # every evidence link resolves to an element id of the rendered page
    ev_links = [link for link in c.links if link.startswith("ev-")]
    assert ev_links and set(ev_links) <= set(c.ids)
    assert set(c.links) <= set(c.ids)
    assert len(re.findall(r"<mark\b", dom)) >= len(ev_links) // 2


@needs_chromium
@pytest.mark.browser
def test_a_screenshot_of_the_page(tmp_path):
    """One screenshot; a person looked at it once (sections, colours, highlighted letter text)."""
    _, html = _page("synthetic_2016_multi.txt", "en")
    page = tmp_path / "explanation.html"
    page.write_text(html, encoding="utf-8")
    shot = tmp_path / "explanation.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,2600", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a page with content, not a blank
