"""Links of a page: every ``<a href>``, canonical/og:url, amphtml, next page, "show all"."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urldefrag, urljoin, urlsplit

from lxml import etree
from lxml.html import HtmlElement

_HREFS = etree.XPath("//a/@href", smart_strings=False)
_PAGE_RE = re.compile(r"^\d+$")
_PAGE_HINT = re.compile(r"[?&](?:page|halaman|showpage)=", re.I)


def base_url(tree: HtmlElement, url: str) -> str:
    base = tree.xpath("//base/@href")
    if base and base[0].strip():
        try:
            return urljoin(url, base[0].strip())
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


def _rel_href(tree: HtmlElement, rel: str, base: str, tags: str = "link") -> str | None:
    xp = f"//{tags}[contains(concat(' ', normalize-space(translate(@rel, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')), ' '), ' {rel} ')]/@href"
    for href in tree.xpath(xp):
        url = absolute(base, href)
        if url:
            return url
    return None


def canonical(tree: HtmlElement, base: str, og_url: str | None) -> str | None:
    return _rel_href(tree, "canonical", base) or absolute(base, og_url)


def amphtml(tree: HtmlElement, base: str) -> str | None:
    return _rel_href(tree, "amphtml", base)


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


def paging(tree: HtmlElement, url: str, base: str, links: list[str]) -> tuple[str | None, str | None]:
    """(page_all_url, next_page_url) of this same article."""
    page_all = None
    current = _page_param(url)
    try:
        n = int(current) if current and _PAGE_RE.match(current) else 1
    except ValueError:
        n = 1
    next_page = _rel_href(tree, "next", base, tags="link") or _rel_href(tree, "next", base, tags="a")
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
