"""Bytes or text of a page -> one lxml tree (decoded once, parsed once, never raising)."""

from __future__ import annotations

import codecs
import re

from lxml import etree
from lxml.html import HtmlElement, HTMLParser, document_fromstring

MAX_CHARS = 8_000_000  # a page bigger than this is cut (lxml copes; the extractor would crawl)


def _class_lookup() -> etree.ElementNamespaceClassLookup:
    """lxml.html's element classes, chosen in C: ``HTMLParser``'s own lookup calls a Python
    method for every element proxy lxml creates (a million calls on 400 pages, trafilatura's
    passes included). The same classes: ``<form>`` a FormElement, ``<input>`` an
    InputElement..., every other element an HtmlElement."""
    from lxml import html as lxml_html

    fallback = etree.ElementDefaultClassLookup(
        element=HtmlElement, comment=lxml_html.HtmlComment,
        pi=lxml_html.HtmlProcessingInstruction, entity=lxml_html.HtmlEntity)
    lookup = etree.ElementNamespaceClassLookup(fallback)
    classes = lookup.get_namespace(None)
    classes.update({"form": lxml_html.FormElement, "input": lxml_html.InputElement,
                    "select": lxml_html.SelectElement, "textarea": lxml_html.TextareaElement,
                    "label": lxml_html.LabelElement})
    return lookup


_PARSER = HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True,
                     huge_tree=True)
_PARSER.set_element_class_lookup(_class_lookup())
_TAG_RE = re.compile(r"<\s*(?:[a-zA-Z][a-zA-Z0-9:-]*|!doctype)", re.I)


def _utf8_else_cp1252(data: bytes) -> str:
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "cp1252"


def decode(html: bytes | str, encoding: str | None = None) -> str:
    """Text of the page: ``encoding`` if it decodes cleanly, else the page's own declaration
    (BOM, ``<meta charset>``, read by w3lib as browsers do), else UTF-8 if the bytes are
    UTF-8, else windows-1252 (no guessing from the bytes' statistics: a wrong multi-byte guess
    would not show as replacement characters)."""
    if isinstance(html, str):
        return html
    if encoding:
        try:
            return html.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            pass
    from w3lib.encoding import html_body_declared_encoding, read_bom, to_unicode

    try:
        name, bom = read_bom(html)
        if name is not None and bom is not None:
            text = to_unicode(html[len(bom):], name)
        else:
            name = html_body_declared_encoding(html) or _utf8_else_cp1252(html)
            text = to_unicode(html, name)
    except Exception:  # noqa: BLE001 - never raise on bad bytes
        text = html.decode("utf-8", errors="replace")
    if "\ufffd" in text and _utf8_else_cp1252(html) == "cp1252":
        # declared UTF-8 (or nothing) but the bytes are not: windows-1252 is the usual truth
        return html.decode("cp1252", errors="replace")
    return text


def looks_like_html(text: str) -> bool:
    head = text[:65536]
    if not head.strip():
        return False
    if head.count("\x00") > len(head) // 100:
        return False  # binary
    return _TAG_RE.search(head) is not None


def _is_utf8(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False


def parse(html: bytes | str, encoding: str | None = None) -> HtmlElement | None:
    """The page's tree, or None when there is no HTML to speak of."""
    utf8: bytes | None = None  # the page's own bytes when they are the UTF-8 of its text
    if type(html) is bytes and encoding and _is_utf8(encoding):
        try:
            text = html.decode(encoding)  # decode()'s first choice
            utf8 = html
        except UnicodeDecodeError:
            text = decode(html, encoding)
    else:
        text = decode(html, encoding)
    if not looks_like_html(text):
        return None
    if len(text) > MAX_CHARS:
        text, utf8 = text[:MAX_CHARS], None
    if utf8 is not None:
        data = utf8.replace(b"\x00", b"")  # = the text's UTF-8 again, without encoding it
    else:
        data = text.replace("\x00", "").encode("utf-8", errors="replace")
    try:
        tree = document_fromstring(data, parser=_PARSER)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return None
    if tree is None or not isinstance(tree, HtmlElement):
        return None
    return tree


def text_of(el: HtmlElement) -> str:
    """Whitespace-normalised text content of an element."""
    try:
        return " ".join(el.text_content().split())
    except (ValueError, AttributeError):
        return ""


# The two helpers below read an element's text only as far as their answer needs (an
# article's container holds thousands of characters). Both rest on this: the normalised
# text of a prefix of the raw text is a prefix of the normalised whole (the last word may be
# cut short), so once it is long enough, more text changes nothing. Each normalises again
# only after the raw text has doubled, so a long run of blank pieces costs linear time.


def text_upto(el: HtmlElement, limit: int) -> str | None:
    """``text_of(el)`` when it is at most ``limit`` characters long, else None."""
    try:
        pieces: list[str] = []
        raw, check = 0, limit
        for piece in el.itertext():
            pieces.append(piece)
            raw += len(piece)
            if raw > check:
                if len(" ".join("".join(pieces).split())) > limit:
                    return None
                check = 2 * raw
        text = " ".join("".join(pieces).split())
        return text if len(text) <= limit else None
    except (ValueError, AttributeError):
        return ""


def text_starts_with(el: HtmlElement, prefix: str) -> bool:
    """``text_of(el).startswith(prefix)``."""
    try:
        pieces: list[str] = []
        raw, check = 0, len(prefix)
        for piece in el.itertext():
            pieces.append(piece)
            raw += len(piece)
            if raw >= check:
                text = " ".join("".join(pieces).split())
                if len(text) >= len(prefix):
                    return text.startswith(prefix)
                check = 2 * raw
        return " ".join("".join(pieces).split()).startswith(prefix)
    except (ValueError, AttributeError):
        return "".startswith(prefix)


_INLINE_TAGS = {"a", "b", "strong", "i", "em", "u", "span", "font", "small", "sup", "sub",
                "abbr", "cite", "q", "mark", "s", "strike", "del", "ins", "code", "time", "big"}
_CONTAINERS = {"div", "span", "td", "article", "section", "main", "font", "blockquote"}


def paragraphize(tree: HtmlElement) -> None:
    """Wrap text runs separated by ``<br><br>`` (old Indonesian templates) in ``<p>``, so
    the body extractor sees paragraphs, not one loose run whose start it tends to drop."""
    parents = {br.getparent() for br in tree.iter("br")}
    for parent in parents:
        if parent is None or parent.tag not in _CONTAINERS or not _has_double_br(parent):
            continue
        _wrap(parent)


def _has_double_br(el: HtmlElement) -> bool:
    prev_br = False
    for child in el:
        if child.tag == "br":
            if prev_br:
                return True
            prev_br = not (child.tail or "").strip()
        else:
            prev_br = False
    return False


def _wrap(parent: HtmlElement) -> None:
    from lxml.html import Element

    children = list(parent)
    groups: list[tuple[str, list[HtmlElement]]] = []  # (leading text, inline children)
    text = parent.text or ""
    current: list[HtmlElement] = []
    blocks: list[tuple[int, HtmlElement]] = []
    out: list[object] = []  # sequence of ("p", text, elements) or block element
    pending_br = 0

    def flush() -> None:
        nonlocal text, current
        if text.strip() or current:
            out.append((text, current))
        text, current = "", []

    for child in children:
        tail = child.tail or ""
        if child.tag == "br":
            pending_br += 1
            if pending_br >= 2 or (text.strip() == "" and not current):
                flush()
            child.tail = None
            if tail.strip():
                if pending_br >= 2:
                    flush()
                if current:
                    current[-1].tail = (current[-1].tail or "") + " " + tail
                else:
                    text += " " + tail
                pending_br = 0 if pending_br >= 2 else 1
            continue
        if isinstance(child.tag, str) and child.tag in _INLINE_TAGS:
            if pending_br >= 2:
                flush()
            pending_br = 0
            current.append(child)
            continue
        # a block (or a comment/processing instruction): ends the running paragraph
        flush()
        pending_br = 0
        child.tail = None
        out.append(child)
        if tail.strip():
            text = tail
    flush()
    del groups, blocks
    parent.text = None
    for child in list(parent):
        parent.remove(child)
    for item in out:
        if isinstance(item, tuple):
            lead, elements = item
            p = Element("p")
            p.text = lead
            for e in elements:
                p.append(e)
            parent.append(p)
        else:
            parent.append(item)  # type: ignore[arg-type]
