"""Structured metadata of a page: JSON-LD (article nodes, also inside ``@graph``) and meta tags."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from lxml.html import HtmlElement

from crawler.extraction.classify import ARTICLE_TYPES

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# compiled once (``tree.xpath(text)`` compiles on every call)
_LD_SCRIPTS = etree.XPath('//script[contains(translate(@type, "JSONLD", "jsonld"), "ld+json")]')
_METAS = etree.XPath("//meta[@content]")


@dataclass
class Structured:
    article: dict[str, Any] | None = None  # the JSON-LD article node
    types: set[str] = field(default_factory=set)  # every JSON-LD @type seen (lower case)
    meta: dict[str, list[str]] = field(default_factory=dict)  # lower-case name -> contents
    site_names: list[str] = field(default_factory=list)  # og:site_name, JSON-LD publisher

    def first(self, *names: str) -> str | None:
        for name in names:
            for value in self.meta.get(name, ()):
                value = " ".join(value.split())
                if value:
                    return value
        return None

    def all(self, *names: str) -> list[str]:
        out: list[str] = []
        for name in names:
            out.extend(v.strip() for v in self.meta.get(name, ()) if v.strip())
        return out


def _types(node: dict[str, Any]) -> set[str]:
    t = node.get("@type")
    if isinstance(t, str):
        return {t.lower().rsplit("/", 1)[-1]}
    if isinstance(t, list):
        return {x.lower().rsplit("/", 1)[-1] for x in t if isinstance(x, str)}
    return set()


def _walk(value: Any, depth: int = 0):
    """Every dict in a JSON-LD value: top level, lists and ``@graph`` (not nested props)."""
    if depth > 4:
        return
    if isinstance(value, list):
        for item in value:
            yield from _walk(item, depth + 1)
    elif isinstance(value, dict):
        yield value
        graph = value.get("@graph")
        if graph is not None:
            yield from _walk(graph, depth + 1)
        main = value.get("mainEntity")
        if isinstance(main, dict | list):
            yield from _walk(main, depth + 1)


def _load_json(text: str) -> Any:
    text = text.strip()
    if text.startswith("<!--"):
        text = text[4:]
    if text.endswith("-->"):
        text = text[:-3]
    text = text.strip().rstrip(";")
    try:
        return json.loads(text, strict=False)
    except ValueError:
        pass
    try:  # stray control characters, trailing commas: the usual breakage
        text = _CONTROL.sub(" ", text)
        text = re.sub(r",\s*([}\]])", r"\1", text)
        return json.loads(text, strict=False)
    except ValueError:
        return None


def read_structured(tree: HtmlElement) -> Structured:
    out = Structured()
    candidates: list[dict[str, Any]] = []
    for script in _LD_SCRIPTS(tree):
        data = _load_json(script.text or "")
        if data is None:
            continue
        for node in _walk(data):
            types = _types(node)
            out.types |= types
            if types & ARTICLE_TYPES:
                candidates.append(node)
            if "website" in types or "organization" in types or "newsmediaorganization" in types:
                name = node.get("name")
                if isinstance(name, str) and name.strip():
                    out.site_names.append(name.strip())
            publisher = node.get("publisher")
            if isinstance(publisher, dict) and isinstance(publisher.get("name"), str):
                out.site_names.append(publisher["name"].strip())
    if candidates:
        # the richest article node (a page may carry a short one for a related item too)
        out.article = max(candidates, key=lambda n: (bool(n.get("headline")), len(n)))
    for el in _METAS(tree):
        key = el.get("property") or el.get("name") or el.get("itemprop") or el.get("http-equiv")
        if not key:
            continue
        out.meta.setdefault(key.strip().lower(), []).append(el.get("content") or "")
    site = out.first("og:site_name", "application-name")
    if site:
        out.site_names.insert(0, site)
    return out


def ld_text(value: Any) -> str | None:
    """A JSON-LD value as one string (first of a list; ``name``/``url``/``@value`` of an object)."""
    if isinstance(value, list):
        for item in value:
            text = ld_text(item)
            if text:
                return text
        return None
    if isinstance(value, dict):
        for key in ("@value", "name", "url", "contentUrl", "@id"):
            text = ld_text(value.get(key))
            if text:
                return text
        return None
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = " ".join(str(value).split())
        return text or None
    return None


def ld_people(value: Any) -> list[str]:
    """Names of the persons in a JSON-LD author value (organisations left out)."""
    items = value if isinstance(value, list) else [value]
    names: list[str] = []
    for item in items:
        if isinstance(item, dict):
            if _types(item) & {"organization", "newsmediaorganization", "corporation"}:
                continue
            name = ld_text(item.get("name"))
        elif isinstance(item, str):
            name = " ".join(item.split())
        else:
            name = None
        if name:
            names.append(name)
    return names
