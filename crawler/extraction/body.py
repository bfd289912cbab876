"""The article body: trafilatura on the cleaned tree, then a line-level clean-up."""

from __future__ import annotations

import logging
import re
from copy import copy
from typing import Any

from lxml import etree
from lxml.html import HtmlElement

from crawler.extraction.dates import is_date_line
from crawler.extraction.inserts import BYLINE_RE, MARKER_RE

_SHARE_LINE = re.compile(
    r"^(?:\W|share|shares|bagikan|bagikan artikel|tweet|facebook|twitter|whatsapp|wa|line|"
    r"telegram|linkedin|pinterest|e-?mail|copy\s+link|salin\s+tautan|salin\s+link|print|cetak"
    r"|\d+|x)+$",
    re.I,
)
_quiet = False


def _quiet_loggers() -> None:
    global _quiet
    if not _quiet:
        for name in ("trafilatura", "htmldate", "courlan"):
            logging.getLogger(name).setLevel(logging.ERROR)
        _quiet = True


# chosen on the corpora (see the extraction notes in the bench report): favor_precision
OPTIONS: dict[str, bool] = {"favor_precision": True, "favor_recall": False, "fast": False}
# run the fast pass first and the full one (with trafilatura's fallbacks) only when the fast
# text is shorter than this many characters; 0: always the full one
FAST_FIRST_MIN_CHARS = 700
# a tree with more elements than this gets the fast pass only (trafilatura's fallbacks take
# tens of seconds on a 20 000-element page; a typical news page has 1 500-5 000)
HUGE_TREE_ELEMENTS = 12000
_COUNT_ELEMENTS = etree.XPath("count(//*)")


def run_trafilatura(tree: HtmlElement, url: str | None) -> str:
    _quiet_loggers()
    if not OPTIONS.get("fast") and _count_elements(tree, HUGE_TREE_ELEMENTS) > HUGE_TREE_ELEMENTS:
        return _bare(tree, url, {**OPTIONS, "fast": True})
    if FAST_FIRST_MIN_CHARS and not OPTIONS.get("fast"):
        text = _bare(tree, url, {**OPTIONS, "fast": True})
        if len(text) >= FAST_FIRST_MIN_CHARS:
            return text
    return _bare(tree, url, OPTIONS)


def _count_elements(tree: HtmlElement, limit: int) -> int:
    return int(_COUNT_ELEMENTS(tree))


_EXTRACTORS: dict[tuple[bool, bool, bool], Any] = {}


def _extractor(url: str | None, options: dict[str, bool]) -> Any:
    """trafilatura's settings for one call: what ``bare_extraction(url=url,
    include_comments=False, include_tables=True, with_metadata=False, fast=...,
    favor_precision=..., favor_recall=...)`` builds, copied from one built once per option
    set with the URL set after, as trafilatura's own CLI does (building one reads its config
    file's values anew: 60 us a call)."""
    from trafilatura.settings import Extractor

    key = (options.get("fast", False), options.get("favor_precision", False),
           options.get("favor_recall", False))
    template = _EXTRACTORS.get(key)
    if template is None:
        template = _EXTRACTORS[key] = Extractor(
            output_format="python", fast=key[0], precision=key[1], recall=key[2],
            comments=False, tables=True, with_metadata=False)
    extractor = copy(template)
    extractor.url = url
    extractor.source = url and url.encode("utf-8", "replace").decode("utf-8")
    return extractor


def _bare(tree: HtmlElement, url: str | None, options: dict[str, bool]) -> str:
    from trafilatura import bare_extraction

    try:
        doc = bare_extraction(tree, options=_extractor(url, options))
    except Exception:  # noqa: BLE001 - a page the extractor chokes on has no body
        return ""
    if doc is None:
        return ""
    text = doc.get("text") if isinstance(doc, dict) else getattr(doc, "text", None)
    return text or ""


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text.casefold()).strip()


def clean_body(text: str, title: str | None = None) -> str:
    """Paragraphs separated by one blank line, without insert/byline/date/share lines."""
    out: list[str] = []
    ntitle = _norm(title) if title else None
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if not line:
            continue
        m = MARKER_RE.match(line)
        if m and m.group("inline") and len(line) < 400 and (
                ":" in line[: len(m.group(0)) + 2] or len(line) <= len(m.group(0)) + 2):
            continue
        if len(line) <= 100 and BYLINE_RE.match(line) and ":" in line[:25]:
            continue
        if is_date_line(line):
            continue
        if len(line) <= 60 and _SHARE_LINE.match(line):
            continue
        if ntitle and not out and _norm(line) == ntitle:
            continue
        out.append(line)
    return "\n\n".join(out)
