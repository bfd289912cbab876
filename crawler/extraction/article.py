"""The typed result of extraction: what a page becomes (a page object's fields)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class RelatedLink:
    url: str
    title: str
    kind: str  # "inline" ("Baca Juga:" lines inside the body) or "block" (end-of-article list)


@dataclass
class ExtractedArticle:
    url: str
    canonical_url: str | None = None
    title: str | None = None
    authors: list[str] = field(default_factory=list)
    published: str | None = None  # ISO 8601 with UTC offset
    modified: str | None = None
    language: str | None = None
    description: str | None = None
    image: str | None = None
    section: str | None = None
    tags: list[str] = field(default_factory=list)
    body: str = ""  # plain text, paragraphs separated by a blank line
    related: list[RelatedLink] = field(default_factory=list)
    is_article: bool = True
    # links a crawler may follow from this page (non-article or article): absolute URLs
    links: list[str] = field(default_factory=list)
    # the page links a "show all" variant (?page=all) or a next page of the same article
    page_all_url: str | None = None
    next_page_url: str | None = None
    amphtml_url: str | None = None

    def to_dict(self, *, with_links: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_links:
            d.pop("links", None)
        return d
