"""Links of a page: every ``<a href>``, canonical/og:url, amphtml, next page, "show all"."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, urldefrag, urljoin, urlsplit

from lxml import etree
from lxml.html import HtmlElement

_HREFS = etree.XPath("//a/@href", smart_strings=False)
_PAGE_RE = re.compile(r"^\d+$")
_PAGE_HINT = re.compile(r"[?&](?:page|halaman|showpage)=", re.I)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_XML_SPACE = re.compile(r"[ \t\r\n]+")  # XPath's normalize-space() whitespace
_REL_ELEMENTS = {tag: etree.XPath(f"//{tag}[@rel][@href]") for tag in ("link", "a")}


def base_url(tree: HtmlElement, url: str) -> str:
    # the first <base> that has an href (tree.iter in C: faster than "//base/@href")
    href = next((h for h in (b.get("href") for b in tree.iter("base")) if h is not None), None)
    if href and href.strip():
        try:
            return urljoin(url, href.strip())
        except ValueError:
            return url
    return url


def absolute(base: str, href: str | None) -> str | None:
    """Absolute http(s) URL without fragment, or None."""
    if not href:
        return None
    href = href.strip()
    if not href or href.startswith(("#", "javascript:", "mailto:", "tel:", "data:")):
        return None
    if (href[0] == "/" and href[1:2] != "/" and isinstance(base, str)
            and not _HAS_TAB_OR_NEWLINE.search(href)):
        # a root-relative href: urljoin takes only the scheme and host of the base (the path
        # of "/x" is the href's own), so pages of one site share these joins
        try:
            parts = urlsplit(base)
        except ValueError:
            return None
        if parts.scheme in ("http", "https"):
            return _join(f"{parts.scheme}://{parts.netloc}/", href)
    return _join(base, href)


_HAS_TAB_OR_NEWLINE = re.compile(r"[\t\r\n]")  # urlsplit drops them: "/\t/x" is "//x"


@lru_cache(maxsize=8192)
def _join(base: str, href: str) -> str | None:
    try:
        url = urldefrag(urljoin(base, href))[0]
    except ValueError:
        return None
    if not url.startswith(("http://", "https://")):
        return None
    return url


def all_links(tree: HtmlElement, base: str) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for href in _HREFS(tree):
        href = href.strip()
        if href.startswith(("http://", "https://")) and " " not in href:
            url: str | None = href.split("#", 1)[0]  # already absolute: no urljoin needed
        else:
            url = absolute(base, href)
        if url and url not in seen:
            seen.add(url)
            out.append(url)
    return out


class RelLinks:
    """The ``<link rel href>`` / ``<a rel href>`` elements of one page, each tag searched
    once however many rel values are asked (canonical, amphtml, next)."""

    def __init__(self, tree: HtmlElement) -> None:
        self.tree = tree
        self._found: dict[str, list[tuple[list[str], str]]] = {}

    def hrefs(self, rel: str, tags: str = "link") -> list[str]:
        """``href`` of the ``tags`` elements whose rel (ASCII case folded) has the token
        ``rel``, in document order."""
        found = self._found.get(tags)
        if found is None:
            found = self._found[tags] = [
                (_XML_SPACE.split(el.get("rel", "").translate(_ASCII_LOWER)), el.get("href", ""))
                for el in _REL_ELEMENTS[tags](self.tree)]
        return [href for tokens, href in found if rel in tokens]


def _rel_href(tree: HtmlElement, rel: str, base: str, tags: str = "link",
              rels: RelLinks | None = None) -> str | None:
    for href in (rels or RelLinks(tree)).hrefs(rel, tags):
        url = absolute(base, href)
        if url:
            return url
    return None


def canonical(tree: HtmlElement, base: str, og_url: str | None,
              rels: RelLinks | None = None) -> str | None:
    return _rel_href(tree, "canonical", base, rels=rels) or absolute(base, og_url)


def amphtml(tree: HtmlElement, base: str, rels: RelLinks | None = None) -> str | None:
    return _rel_href(tree, "amphtml", base, rels=rels)


def _same_article(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    host_a, host_b = pa.netloc.lower().removeprefix("www."), pb.netloc.lower().removeprefix("www.")
    return host_a == host_b and pa.path.rstrip("/") == pb.path.rstrip("/")


def _continues(candidate: str, url: str) -> bool:
    """``candidate`` is a page of the same article: same path, or the path plus a suffix."""
    pa, pb = urlsplit(candidate), urlsplit(url)
    if pa.netloc.lower().removeprefix("www.") != pb.netloc.lower().removeprefix("www."):
        return False
    a, b = pa.path.rstrip("/"), pb.path.rstrip("/")
    if a == b or a.startswith(b + "/"):
        return True
    head_a, _, last_a = a.rpartition("/")
    head_b, _, last_b = b.rpartition("/")
    return head_a == head_b and last_a.isdigit() and last_b.isdigit()


def _page_param(url: str) -> str | None:
    for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if key.lower() in ("page", "halaman", "showpage"):
            return value.strip().lower()
    return None


def paging(tree: HtmlElement, url: str, base: str, links: list[str],
           rels: RelLinks | None = None) -> tuple[str | None, str | None]:
    """(page_all_url, next_page_url) of this same article."""
    rels = rels or RelLinks(tree)
    page_all = None
    current = _page_param(url)
    try:
        n = int(current) if current and _PAGE_RE.match(current) else 1
    except ValueError:
        n = 1
    next_page = (_rel_href(tree, "next", base, tags="link", rels=rels)
                 or _rel_href(tree, "next", base, tags="a", rels=rels))
    if next_page and not _continues(next_page, url):
        next_page = None  # rel=next to another article (old blog themes) is not our next page
    for link in links:
        if "=" not in link or not _PAGE_HINT.search(link):
            continue
        value = _page_param(link)
        if value is None or not _same_article(link, url):
            continue
        if value == "all" and page_all is None and current != "all":
            page_all = link
        elif next_page is None and value == str(n + 1):
            next_page = link
    return page_all, next_page
