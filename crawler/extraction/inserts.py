"""Related-article inserts ("Baca Juga:" lines, "Artikel Terkait" blocks) and bylines.

They are found in the tree, recorded, and removed from it before the body extractor runs, so
none of their text can leak into the body.
"""

from __future__ import annotations

import re

from lxml import etree
from lxml.html import HtmlElement

from crawler.extraction.article import RelatedLink
from crawler.extraction.byline import authors_in, spaced_text
from crawler.extraction.html import text_of, text_starts_with, text_upto
from crawler.extraction.links import absolute

_INLINE = (r"baca\s+(?:juga|pula)|lihat\s+juga|simak\s+juga|tonton\s+juga|read\s+also"
           r"|also\s+read|see\s+also|jangan\s+lewatkan")
_BLOCK = (r"artikel\s+terkait|berita\s+terkait|artikel\s+lainnya|berita\s+lainnya"
          r"|baca\s+berita\s+lainnya|related\s+(?:articles?|stories|posts|news|content|coverage)"
          r"|more\s+stories|you\s+(?:may|might)\s+also\s+like")
MARKER_RE = re.compile(
    rf"^\W{{0,3}}(?:(?P<inline>{_INLINE})|(?P<block>{_BLOCK}))\b\s*(?:[:!.]+\s*|$)", re.I)
# every text node, filtered in Python: lxml's EXSLT regex calls back into Python per node
_TEXTS = "//body//text()[normalize-space()]"
_TEXT_NODES = etree.XPath(_TEXTS)
_MARKER_START = re.compile(r"^\W{0,3}(?:baca|lihat|simak|tonton|read|also|see|jangan|artikel"
                           r"|berita|related|more stories|you m)", re.I)

# byline-like lines: label + name. The label decides whether the name is an author.
BYLINE_RE = re.compile(
    r"^(?P<label>penulis|pewarta|reporter|wartawan|oleh|ditulis\s+oleh|kontributor"
    r"|editor|penyunting|redaktur|sumber|fotografer|foto|editor\s+foto|by|written\s+by)\b"
    r"\s*:?\s*(?P<name>[^\s:].{0,80})$",
    re.I,
)
_BYLINE_START = re.compile(
    r"^\s*(?:penulis|pewarta|reporter|wartawan|oleh|ditulis oleh|kontributor|editor|penyunting"
    r"|redaktur|sumber|fotografer|editor foto)\s*(?::|$)", re.I)
_SKIP = {"html", "body", "head", "article", "main"}


def _link_text_len(el: HtmlElement) -> int:
    if el.tag == "a":
        return len(text_of(el))
    return sum(len(text_of(a)) for a in el.iter("a"))


def _has_links(el: HtmlElement) -> bool:
    return el.tag == "a" or next(el.iter("a"), None) is not None


def _is_link_list(el: HtmlElement, *, slack: int = 40) -> bool:
    """Mostly links (a list of related titles), little other text."""
    if not isinstance(el.tag, str) or el.tag in _SKIP:
        return False
    if not _has_links(el):
        return False
    text = text_of(el)
    links = _link_text_len(el)
    return len(text) - links <= max(slack, len(text) // 3)


class InsertFinder:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.related: list[RelatedLink] = []
        self._seen: dict[str, int] = {}
        self._text_nodes: list | None = None  # type: ignore[type-arg]

    def _texts(self, tree: HtmlElement) -> list:  # type: ignore[type-arg]
        if self._text_nodes is None:
            self._text_nodes = _TEXT_NODES(tree)
        return self._text_nodes

    def _record(self, el: HtmlElement, kind: str) -> None:
        anchors = [el] if el.tag == "a" else list(el.iter("a"))
        for a in anchors:
            url = absolute(self.base_url, a.get("href"))
            if url is None:
                continue
            title = text_of(a) or " ".join((a.get("title") or "").split())
            if url in self._seen:
                i = self._seen[url]
                if title and not self.related[i].title:
                    self.related[i].title = title
                continue
            self._seen[url] = len(self.related)
            self.related.append(RelatedLink(url=url, title=title, kind=kind))

    def _remove(self, el: HtmlElement) -> None:
        if el.getparent() is not None:
            el.drop_tree()  # keeps the tail text: it belongs to what follows

    def remove_related(self, tree: HtmlElement) -> None:
        for node in self._texts(tree):
            if not _MARKER_START.match(node):
                continue
            match = MARKER_RE.match(str(node))
            if not match:
                continue
            kind = "inline" if match.group("inline") else "block"
            holder = node.getparent()
            if holder is None or holder.getparent() is None:
                continue  # already removed with an earlier insert
            if getattr(node, "is_tail", False):
                # "Read also:" as loose text after an element: the list follows that element
                self._take_following(holder, kind)
                continue
            if holder.tag in ("script", "style", "title", "option", "textarea"):
                continue
            self._handle(holder, kind, match)

    def _handle(self, el: HtmlElement, kind: str, match: re.Match[str]) -> None:
        own = text_upto(el, 400)
        if own is None:
            return
        marker = own[: len(match.group(0).strip())]
        # climb to the widest element that still starts with the marker and is a link list
        while True:
            parent = el.getparent()
            if parent is None or parent.tag in _SKIP:
                break
            if not text_starts_with(parent, marker):
                break  # (the usual end: the article's container, whose text can be long)
            ptext = text_of(parent)
            rest = len(ptext) - len(marker)
            if rest > 60 and not _is_link_list(parent, slack=60):
                break
            if kind == "inline" and len(ptext) > 2000:
                break
            el = parent
        if _has_links(el):
            self._record(el, kind)
            self._remove(el)
            return
        text = text_of(el)
        if self._take_following(el, kind):
            self._remove(el)
            return
        if len(text) > len(marker) + 3 and ":" in text[: len(marker) + 3] and len(text) < 300:
            self._remove(el)  # "Baca juga: <title without a link>"
        elif len(text) <= len(marker) + 1 and kind == "inline":
            self._remove(el)  # a bare "Baca Juga" label

    def _take_following(self, el: HtmlElement, kind: str) -> bool:
        """Remove the link-list siblings that follow ``el``; True if any was taken."""
        taken = False
        sib = el.getnext()
        if (el.tail or "").strip():
            return False
        while sib is not None:
            nxt = sib.getnext()
            if not isinstance(sib.tag, str) or sib.tag in ("br", "script", "style", "iframe"):
                pass
            elif _is_link_list(sib):
                self._record(sib, kind)
                self._remove(sib)
                taken = True
            else:
                break
            if (sib.tail or "").strip():
                break
            sib = nxt
        return taken

    def remove_bylines(self, tree: HtmlElement) -> list[str]:
        """Remove short "Penulis: X" / "Editor: Y" lines; return the author names they give."""
        authors: list[str] = []
        for node in self._texts(tree):
            if not _BYLINE_START.match(node):
                continue
            holder = node.getparent()
            if holder is None or holder.getparent() is None or getattr(node, "is_tail", False):
                continue
            if holder.tag in ("script", "style", "title", "option", "textarea"):
                continue
            el = holder
            text = spaced_text(el, 100)  # "<b>Penulis</b><a>X</a>" reads "Penulis X"
            if text is None:
                continue  # longer than a byline
            # "<span>Penulis:</span> <a>Name</a>": the line is the parent
            parent = el.getparent()
            if len(text) < 20 and parent is not None and parent.tag in ("td", "th", "dt"):
                parent = parent.getparent()  # a table row: "| Penulis | : Name |"
            if len(text) < 20 and parent is not None and parent.tag not in _SKIP:
                ptext = spaced_text(parent, 100)
                if ptext is not None and ptext.startswith(text):
                    el, text = parent, ptext
            if len(text) > 100:
                continue
            m = BYLINE_RE.match(text)
            if not m:
                continue
            # the names the line's author labels give ("Pewarta: X<br>Editor: Y" -> X)
            authors.extend(name for name in authors_in(el) if name not in authors)
            self._remove(el)
        return authors
