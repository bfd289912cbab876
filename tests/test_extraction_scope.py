"""Learned body containers (``crawler.extraction.scope``): the same article, less work."""

from __future__ import annotations

from pathlib import Path

import pytest

from arsip.bench.synthetic_site import SyntheticSite
from crawler.extraction import extract_page
from crawler.extraction import scope as scope_mod
from crawler.extraction.evaluate import load_corpus
from crawler.extraction.scope import BodyScopes

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"
BASE = "http://127.0.0.1:8000"


def _article_pages(site: SyntheticSite, base: str = BASE) -> list[tuple[str, bytes]]:
    return [(base + s.path, site.article(base, s).encode()) for s in site.stories]



@pytest.fixture(scope="module")
def site() -> SyntheticSite:
    return SyntheticSite(pages=60, seed=3)


def test_pages_of_one_template_give_the_same_articles_from_the_learned_container(
        site: SyntheticSite) -> None:
    scopes = BodyScopes()
    pages = _article_pages(site)
    for url, html in pages:
        whole = extract_page(html, url)
        scoped = extract_page(html, url, scopes=scopes)
        assert whole.is_article and whole.body
        assert scoped == whole, url
    stats = scopes.stats
    # learned on the first pages, then the container alone (re-checked now and then)
    assert stats.checks >= scope_mod.LEARN_PAGES
    assert stats.narrowed >= len(pages) - scope_mod.LEARN_PAGES - 3
    assert stats.refused == 0


def test_a_container_that_disagrees_once_is_refused_and_the_whole_page_used(
        site: SyntheticSite, monkeypatch: pytest.MonkeyPatch) -> None:
    real = scope_mod._narrow_text
    monkeypatch.setattr(scope_mod, "_narrow_text",
                        lambda element, url: real(element, url) + "\n\nteks lain")
    scopes = BodyScopes()
    for url, html in _article_pages(site)[:10]:
        assert extract_page(html, url, scopes=scopes) == extract_page(html, url)
    assert scopes.stats.refused == 1
    assert scopes.stats.narrowed == 0


def test_a_trusted_container_is_checked_again_and_refused_when_it_drifts(
        site: SyntheticSite, monkeypatch: pytest.MonkeyPatch) -> None:
    scopes = BodyScopes(learn=2, recheck_every=5)
    pages = _article_pages(site)
    for url, html in pages[:8]:
        extract_page(html, url, scopes=scopes)
    assert scopes.stats.narrowed > 0 and scopes.stats.refused == 0
    # the template changes in a way only a comparison with the whole page shows
    real = scope_mod._narrow_text
    monkeypatch.setattr(scope_mod, "_narrow_text",
                        lambda element, url: real(element, url) + "\n\nteks lain")
    narrowed_before = scopes.stats.narrowed
    results = [(extract_page(html, url, scopes=scopes), extract_page(html, url))
               for url, html in pages[8:30]]
    assert scopes.stats.refused == 1
    # at most the pages before the next re-check came from the drifted container
    wrong = [a for a, b in results if a != b]
    assert len(wrong) <= 4
    assert scopes.stats.narrowed - narrowed_before == len(wrong)
    assert all(a == b for a, b in results[-10:])


def test_what_is_learned_on_one_host_is_not_used_on_another(site: SyntheticSite) -> None:
    scopes = BodyScopes()
    for url, html in _article_pages(site)[:10]:
        extract_page(html, url, scopes=scopes)
    narrowed = scopes.stats.narrowed
    other = _article_pages(site, "http://localhost:8001")[10:12]
    for url, html in other:
        extract_page(html, url, scopes=scopes)
    assert scopes.stats.narrowed == narrowed  # the new host is learned first
    # pages without a URL (a saved file) are never narrowed
    for _, html in _article_pages(site)[12:15]:
        extract_page(html, "saved.html", scopes=scopes)
    assert scopes.stats.narrowed == narrowed


def test_real_pages_with_the_most_trusting_gate_give_the_whole_page_articles() -> None:
    folder = CORPUS / "id-news"
    if not folder.is_dir():
        pytest.skip(f"corpus folder not found at {folder} (../shared/corpus from the repo)")
    scopes = BodyScopes(learn=1)
    pages = list(load_corpus(folder))
    for page in pages:
        url = page.truth.get("url") or f"https://corpus.invalid/{page.id}"
        assert extract_page(page.html, url, scopes=scopes) == extract_page(page.html, url), \
            page.id
    assert scopes.stats.narrowed > 0  # several pages per host: some came from containers


def test_a_failure_in_the_learning_gives_the_whole_page_article(
        site: SyntheticSite, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(tree: object) -> None:
        raise ValueError("boom")

    monkeypatch.setattr(scope_mod, "_candidate", broken)
    scopes = BodyScopes()
    for url, html in _article_pages(site)[:3]:
        assert extract_page(html, url, scopes=scopes) == extract_page(html, url)
    assert scopes.stats.errors == 3
