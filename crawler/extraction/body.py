"""The article body: trafilatura on the cleaned tree, then a line-level clean-up."""

from __future__ import annotations

import logging
import re

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
    return int(tree.xpath("count(//*)"))


def _bare(tree: HtmlElement, url: str | None, options: dict[str, bool]) -> str:
    from trafilatura import bare_extraction

    try:
        doc = bare_extraction(tree, url=url, include_comments=False, include_tables=True,
                              with_metadata=False, fast=options.get("fast", False),
                              favor_precision=options.get("favor_precision", False),
                              favor_recall=options.get("favor_recall", False))
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
