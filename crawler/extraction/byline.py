"""Visible bylines: who wrote a page, read from its markup when structured data says nothing.

A byline block ("Penulis: X | Editor: Y", a credits box of label and value rows, "X - Penulis",
"By A and B") is read as a stream of tokens: texts, role labels (Indonesian and English, with
or without a colon) and the boundaries between them. Element boundaries are never glued: a
block element or ``<br>`` ends a line, adjacent inline elements are separate cells. Each label
then takes the name it belongs to:

- after it, when a colon or text follows it in the same piece of text ("Oleh X", "Reporter: A,
  B");
- else the nearer of the names before and after it in the tree (a label cell beside its name
  cell, "X - Penulis", a label row then a value row); at equal distance the block's own
  order decides (a block that starts with a label has labels first).

Author roles (penulis, reporter, by, ...) give authors; editors, photographers and sources do
not ("Political editor", a job title, is an author's). With no author label in a block, the
first names inside an element marked as a byline count (class/id/itemprop/rel/data-*/aria
attributes naming author, byline, penulis, reporter, writer...; "credit" marks a block whose
labels count, not its bare names: photo credits use it too). Blocks inside menus, sidebars,
widgets, comment lists and figures are no bylines. Nothing here knows a site's class names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from lxml import etree
from lxml.html import HtmlElement

_AUTHOR = "author"
_BY = "by"  # an author, if the name has two words or more
_LABELS: list[tuple[str, str]] = [  # (pattern, role), longer phrases first
    (r"additional\s+reporting\s+by", "other"), (r"(?:editing|edited)\s+by", "editor"),
    (r"(?:photos?|foto|video)\s+(?:by|oleh)", "photo"),
    (r"editor\s+(?:foto|video|bahasa)", "photo"), (r"(?:photo|video)\s+editor", "photo"),
    (r"reporting\s+by", _AUTHOR), (r"(?:written|words|story|posted)\s+by", _AUTHOR),
    (r"ditulis\s+oleh", _AUTHOR), (r"diedit\s+oleh", "editor"),
    (r"laporan\s+(?:wartawan|wartawati|reporter|kontributor|jurnalis)", _AUTHOR),
    (r"penulis|reporter|wartawan|wartawati|jurnalis|kontributor|contributors?|correspondent"
     r"|koresponden|pewarta|oleh|by|authors?|writers?|rep(?=\s*[:.])", _AUTHOR),
    (r"editor|penyunting|redaktur|penyelaras|red(?=\s*[:.])", "editor"),
    (r"fotografer|photographer|foto|photos?|videografer|ilustrasi|ilustrator|illustration"
     r"|grafis|sumber|source", "photo"),
]
_LABEL_RE = re.compile(
    r"(?<![\w.@])(?:" + "|".join(f"(?P<r{i}>{p})" for i, (p, _) in enumerate(_LABELS))
    + r")(?![\w@])(?:\s*[.:](?!\w))?", re.I)
_HARD = re.compile(r"\s*[|•·/;]\s*|\s+[-–—]+\s+|^\s*[-–—]+\s*|\s*[-–—]+\s*$")
_BARE = re.compile(r"(?:by|oleh)", re.I)
_LEAD = re.compile(r"[\W_]*(?:[A-Z][\w’']*\s+){0,2}?[\W_]*", re.I)
_LEAD_NOT = re.compile(r"\b(?:\w+ed|di\w{3,}|sort|order|filter|powered|theme)\s*$", re.I)
_CITY = re.compile(r"\s+[A-Z][\w.-]*(?:\s+[A-Z][\w.-]*)?,\s*(?=[A-Z])")
_JOIN = re.compile(r"^[\s,&]*(?:(?:and|dan|serta)\b)?[\s,&]*$", re.I)
_PEOPLE = re.compile(r"\s*(?:,|&|\band\b|\bdan\b|\bserta\b)\s*", re.I)
_PARTICLES = {"bin", "binti", "van", "von", "de", "der", "den", "da", "di", "dos", "del", "la",
              "le", "al", "el", "ibn", "bt", "bte", "e"}
_NOT_NAMES = {"share", "follow", "ikuti", "bagikan", "komentar", "comments", "comment",
              "home", "beranda", "more", "lihat", "baca", "view", "profile", "profil",
              "updated", "diperbarui", "published", "advertisement", "iklan", "terbaru",
              "laporan", "news", "berita", "copyright", "senin", "selasa", "rabu", "kamis",
              "jumat", "sabtu", "minggu", "monday", "tuesday", "wednesday", "thursday",
              "friday", "saturday", "sunday", "email", "print", "twitter", "facebook",
              "whatsapp", "telegram", "linkedin", "reddit", "instagram", "youtube", "tiktok",
              "line", "copy", "salin", "tweet", "talk", "top", "review", "original", "category",
              "kategori", "name", "nama", "address", "alamat", "popup", "close", "tutup",
              "search", "cari", "menu", "login", "masuk", "daftar", "subscribe", "rss"}
_BLOCK = {"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
          "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
          "nav", "ol", "p", "section", "table", "tbody", "thead", "td", "th", "tr", "ul"}
_SKIP = {"script", "style", "noscript", "svg", "img", "button", "select", "option", "textarea",
         "iframe", "template", "figure", "figcaption", "picture", "video", "audio", "head"}
_STOP_CLIMB = {"body", "html", "article", "main"}
_SIGNAL_WORDS = ("author", "byline", "penulis", "reporter", "writer", "credit", "contributor",
                 "kontributor", "wartawan", "pewarta")
_NOT_SIGNAL = re.compile(r"photo|foto|image|img|caption|avatar|thumb|editor-pick", re.I)
_SIGNAL_RE = re.compile(r"author(?!i[sz])|byline|penulis|reporter|writer|contributor"
                        r"|kontributor|wartawan|pewarta")
# an element inside one of these (a class or id that is just this word) is no byline of the
# article: menus, sidebars, widgets, comment lists, lists of other stories, the site's footer
_OUTSIDE = {"nav", "navbar", "menu", "sidebar", "widget", "comments", "comment-list",
            "commentlist", "related", "related-posts", "popular", "terpopuler", "footer",
            "site-footer", "modal", "popup"}
_CONTAINS = " or ".join(f"contains(., '{w}')" for w in _SIGNAL_WORDS)
# elements marked as bylines by their attributes (tested on the attribute nodes that exist)
BYLINE_ELEMENTS = etree.XPath(
    f"//@class[{_CONTAINS}]/.. | //@id[{_CONTAINS}]/.."
    " | //@itemprop[. = 'author']/.. | //@rel[. = 'author']/.."
    f" | //@*[starts-with(name(), 'data-')][{_CONTAINS}]/.."
    " | //@aria-label[contains(translate(., 'CA', 'ca'), 'contributor')"
    " or contains(translate(., 'A', 'a'), 'author')]/..")
_AUTHOR_HREF = re.compile(r"/(?:authors?|penulis|reporter|wartawan|kontributor|contributors?"
                          r"|writers?|profiles?|profil|by)/[^/?#]+/?(?:[?#]|$)", re.I)
_LABEL_START = re.compile(r"^\W{0,3}(?:" + "|".join(p for p, _ in _LABELS) + r")\b", re.I)
_LABEL_END = re.compile(r"(?<![\w.@])(?:" + "|".join(p for p, _ in _LABELS) + r")\s*:?\s*$",
                        re.I)
_TEXTS = etree.XPath("//body//text()[normalize-space()]")
_LINKS = etree.XPath("//body//a[@href]")
MAX_BLOCK = 220  # characters: a byline block is short


@dataclass
class Token:
    kind: str  # "text" | "label" | "soft" | "hard" | "line" | "join"
    text: str = ""
    role: str = ""  # labels: "author", "editor", "photo", "other"
    glued: bool = False  # label: a colon or text follows it in the same piece of text
    holder: HtmlElement | None = None
    signal: int = 0  # text: 2 its own element is marked as a byline, 1 inside one
    claim: str | None = None  # text: the role of the label that took it


def _role(match: re.Match[str]) -> str:
    for i, (_, role) in enumerate(_LABELS):
        if match.group(f"r{i}") is not None:
            return role
    return "other"


def _piece_tokens(text: str, holder: HtmlElement | None, signal: int) -> Iterator[Token]:
    """The tokens of one piece of text (a text node or tail)."""
    segments = _HARD.split(text)
    for n, segment in enumerate(segments):
        if n:
            yield Token("hard")
        pos = 0
        for m in _LABEL_RE.finditer(segment):
            before, after = segment[pos:m.start()], segment[m.end():]
            if _BARE.fullmatch(m.group(0)) and (not _LEAD.fullmatch(before)
                                                or _LEAD_NOT.search(before)):
                continue  # "Powered by X", "Sort by", "dibuat oleh": words, not a byline
            qualifier = ""
            if not re.match(r"\s*\w", after) and ":" not in m.group(0) and before.strip():
                # "Technology reporter", "Post author", "Contributing Editor,": a job title
                head, _, tail = before.rpartition(",")
                if 0 < len(tail.split()) <= 2 and tail.strip()[:1].isupper():
                    before, qualifier = head + ("," if head else ""), tail.strip()
            yield from _text_tokens(before, holder, signal)
            role = _role(m)
            if qualifier and role == "editor":
                role = _AUTHOR  # "Political editor": the title of whoever wrote the piece
            elif m.group(0).strip().lower() == "by":
                role = _BY  # "By Country", "Sort by Date": a one-word "name" is no byline
            glued = ":" in m.group(0) or bool(re.match(r"\s*\w", after))
            yield Token("label", m.group(0).strip(), role=role, glued=glued, holder=holder)
            pos = m.end()
            city = _CITY.match(after) if m.group(0).strip().lower() == "kontributor" else None
            if city:  # "Kontributor Lhokseumawe, Masriadi": the contributor's town first
                pos += city.end()
        yield from _text_tokens(segment[pos:], holder, signal)


def _text_tokens(text: str, holder: HtmlElement | None, signal: int) -> Iterator[Token]:
    text = " ".join(text.split())
    if not text:
        return
    if _JOIN.match(text):
        yield Token("join")
        return
    if not re.search(r"\w", text):
        yield Token("soft")
        return
    yield Token("text", text, holder=holder, signal=signal)


def tokens(el: HtmlElement, signals: set[HtmlElement] | frozenset[HtmlElement] = frozenset()
           ) -> list[Token]:
    """The tokens of an element's text: element boundaries are "line" (block) or "soft"."""
    out: list[Token] = []

    def walk(node: HtmlElement, inside: bool) -> None:
        own = node in signals
        signal = 2 if own else int(inside)
        if node.text:
            out.extend(_piece_tokens(node.text, node, signal))
        for child in node:
            tag = child.tag if isinstance(child.tag, str) else ""
            if tag and tag not in _SKIP:
                out.append(Token("line" if tag in _BLOCK else "soft"))
                walk(child, inside or own)
                out.append(Token("line" if tag in _BLOCK else "soft"))
            if child.tail:
                out.extend(_piece_tokens(child.tail, node, signal))

    walk(el, False)
    return out


def tokens_of_text(text: str) -> list[Token]:
    """Tokens of plain text: a newline ends a line (for tests and text-only callers)."""
    out: list[Token] = []
    for n, line in enumerate(text.split("\n")):
        if n:
            out.append(Token("line"))
        out.extend(_piece_tokens(line, None, 0))
    return out


def people(text: str) -> list[str]:
    """The names in a text ("A, B dan C"), as written."""
    names = []
    for part in _PEOPLE.split(text):
        part = part.strip(" \t,;:.-–—()[]'\"")
        if part:
            names.append(part)
    return names


def looks_like_name(text: str) -> bool:
    """A person's name as bylines write them: 1-5 words, capitalised (particles and initials
    aside), no digits, not a button or a site's word."""
    words = text.split()
    if not 1 <= len(words) <= 5 or len(text) > 50 or re.search(r"[\d@?!©®]|https?:|www\.",
                                                                text):
        return False
    if len(words) == 1 and words[0].casefold().strip(".") in _NOT_NAMES:
        return False
    return all(w[:1].isupper() or w.casefold().strip(".") in _PARTICLES for w in words
               if w[:1].isalpha()) and any(w[:1].isupper() for w in words)


def _has_name(tok: Token) -> bool:
    if re.search(r"\d", tok.text):
        return False  # a date or a time
    return any(looks_like_name(p) for p in people(tok.text))


def _depth(a: HtmlElement | None, b: HtmlElement | None) -> int:
    """Depth of the lowest common ancestor (larger: nearer in the tree)."""
    if a is None or b is None:
        return 0
    seen = {id(x) for x in (a, *a.iterancestors())}
    common = next((x for x in (b, *b.iterancestors()) if id(x) in seen), None)
    return 0 if common is None else sum(1 for _ in common.iterancestors())


def _neighbour(toks: list[Token], i: int, step: int) -> int | None:
    """Index of the nearest text before/after label ``i`` that can be its name."""
    j = i + step
    while 0 <= j < len(toks):
        tok = toks[j]
        if tok.kind == "label":
            return None
        if tok.kind == "text":
            return j if tok.claim is None and _has_name(tok) else None
        j += step
    return None


def _take(toks: list[Token], j: int, step: int, role: str) -> None:
    """Give the text at ``j`` and the texts joined to it (soft boundaries, "and", ",")."""
    while 0 <= j < len(toks):
        tok = toks[j]
        if tok.kind == "text":
            if tok.claim is not None:
                return
            tok.claim = role
        elif tok.kind not in ("soft", "join"):
            return
        j += step


def resolve(toks: list[Token]) -> list[Token]:
    """Let every label take its name (see the module's docstring); returns ``toks``."""
    first = next((t for t in toks if t.kind in ("text", "label")), None)
    labels_first = first is not None and first.kind == "label"
    labels = [i for i, t in enumerate(toks) if t.kind == "label"]
    for i in labels:  # glued labels first: "Oleh X", "Penulis: X"
        if toks[i].glued:
            j = _neighbour(toks, i, 1)
            if j is None:
                j = next((k for k in range(i + 1, len(toks)) if toks[k].kind in ("text", "label")),
                         None)
                if j is None or toks[j].kind != "text" or toks[j].claim is not None:
                    continue
            _take(toks, j, 1, toks[i].role)
    for i in labels:
        if toks[i].glued:
            continue
        before, after = _neighbour(toks, i, -1), _neighbour(toks, i, 1)
        chosen: int | None
        if before is not None and after is not None:
            near_before = _depth(toks[i].holder, toks[before].holder)
            near_after = _depth(toks[i].holder, toks[after].holder)
            if near_before != near_after:
                chosen = before if near_before > near_after else after
            else:
                chosen = after if labels_first else before
        else:
            chosen = before if before is not None else after
        if chosen is not None:
            _take(toks, chosen, -1 if chosen < i else 1, toks[i].role)
    return toks


def _unlabelled(toks: list[Token]) -> None:
    """With no author label: the first name inside a byline element and the names joined to
    it ("A, B and C") are the authors, and so are later names whose own element is marked
    (several ``rel=author`` links); bios, titles and dates around them are not."""
    first = next((i for i, t in enumerate(toks) if t.kind == "text" and t.claim is None
                  and t.signal and _has_name(t)), None)
    if first is None:
        return
    _take(toks, first, 1, _AUTHOR)
    for tok in toks[first:]:
        if tok.kind == "text" and tok.claim is None and tok.signal == 2 and _has_name(tok):
            tok.claim = _AUTHOR


def credits(toks: list[Token]) -> list[tuple[str, str]]:
    """(role, name) of every name the tokens give, in order: labelled names with their
    label's role; with no author label, unlabelled names of byline elements as "author"."""
    resolve(toks)
    if not any(t.claim in (_AUTHOR, _BY) for t in toks):
        _unlabelled(toks)
    out: list[tuple[str, str]] = []
    for tok in toks:
        if tok.kind != "text":
            continue
        role = tok.claim
        if role == _BY:
            role = _AUTHOR if len(tok.text.split()) > 1 else None
        if role is None:
            continue
        for name in people(tok.text):
            if (role, name) not in out:
                out.append((role, name))
    return out


def authors_in(el: HtmlElement) -> list[str]:
    """The names an element's labels mark as authors ("Pewarta: X<br>Editor: Y" -> [X])."""
    return [name for role, name in credits(tokens(el)) if role == _AUTHOR]


def _pieces(el: HtmlElement) -> Iterator[str]:
    """The element's text pieces, a space at every element boundary, skipped elements' text
    left out (their tails kept)."""
    walker = etree.iterwalk(el, events=("start", "end"))
    for event, node in walker:
        skip = not isinstance(node.tag, str) or node.tag in _SKIP
        if event == "start":
            if skip and node is not el:
                walker.skip_subtree()  # its "end" still comes, with the tail
                yield " "
            else:
                yield " "
                if node.text:
                    yield node.text
        else:
            if not skip or node is el:
                yield " "
            if node.tail and node is not el:
                yield node.tail


def spaced_text(el: HtmlElement, limit: int) -> str | None:
    """The element's text with a space at every element boundary (so that "<span>Penulis
    </span><span>X</span>" reads "Penulis X"), or None when longer than ``limit``."""
    pieces: list[str] = []
    raw, check = 0, limit
    for piece in _pieces(el):
        pieces.append(piece)
        raw += len(piece)
        if raw > check:  # normalise only after the raw text has doubled (see html.text_upto)
            if len(" ".join("".join(pieces).split())) > limit:
                return None
            check = 2 * raw
    text = " ".join("".join(pieces).split())
    return text if len(text) <= limit else None


def _climb(el: HtmlElement) -> HtmlElement:
    """The widest short block around a byline element (up to four levels up)."""
    for _ in range(4):
        parent = el.getparent()
        if parent is None or not isinstance(parent.tag, str) or parent.tag in _STOP_CLIMB:
            break
        if spaced_text(parent, MAX_BLOCK) is None:
            break
        el = parent
    return el


def _signal_elements(tree: HtmlElement) -> list[HtmlElement]:
    out = []
    for el in BYLINE_ELEMENTS(tree):
        if not isinstance(el.tag, str) or el.tag in _SKIP or el.tag in ("meta", "link", "body",
                                                                        "html"):
            continue
        marks = " ".join(filter(None, (el.get("class"), el.get("id"))))
        if (marks and _NOT_SIGNAL.search(marks)) or re.search(r"authori[sz]|credit.?card",
                                                               marks):
            continue
        out.append(el)
    return out


def _strong(el: HtmlElement) -> bool:
    """Marked as an author's element, not only as "credits" (photo credits are too)."""
    if el.get("rel") == "author" or el.get("itemprop") == "author":
        return True
    return any(_SIGNAL_RE.search(v) for k, v in el.attrib.items() if k != "href")


def _in_content(el: HtmlElement) -> bool:
    """Not inside a menu, sidebar, widget, comment list or figure."""
    for a in (el, *el.iterancestors()):
        if a.tag in ("nav", "aside", "figure", "figcaption", "body"):
            return a.tag == "body"
        marks = f"{a.get('class') or ''} {a.get('id') or ''}".lower().split()
        if any(m in _OUTSIDE for m in marks):
            return False
    return True


def _blocks(seeds: list[HtmlElement]) -> list[HtmlElement]:
    blocks: list[HtmlElement] = []
    for seed in seeds:
        if spaced_text(seed, MAX_BLOCK) is None or not _in_content(seed):
            continue
        block = _climb(seed)
        if any(b is block or b in block.iterancestors() for b in blocks):
            continue  # inside a block already taken
        blocks = [b for b in blocks if block not in b.iterancestors()] + [block]
    return blocks


def page_authors(tree: HtmlElement, clean: Callable[[str], str | None]) -> list[str]:
    """The authors named by the page's first byline block (in document order) that names
    one. Blocks grow from elements marked as bylines and from role labels; links to author
    pages (``/author/x``) count only when those give nothing. ``clean`` turns a raw name into
    a person's name or None (site names, organisations)."""
    seeds = _signal_elements(tree)[:40]
    signals = [el for el in seeds if _strong(el)]
    for node in _TEXTS(tree):
        if len(seeds) >= 80:
            break
        if len(node) > 120 or not (_LABEL_START.match(node) or _LABEL_END.search(node[-40:])):
            continue
        holder = node.getparent()
        if holder is not None and getattr(node, "is_tail", False):
            holder = holder.getparent()
        if holder is not None and holder.tag not in _SKIP:
            seeds.append(holder)
    links = [a for a in _LINKS(tree)[:400] if _AUTHOR_HREF.search(a.get("href") or "")
             and looks_like_name(" ".join(a.text_content().split()))]
    marked = set(signals) | set(links)
    order: dict[HtmlElement, int] | None = None
    for group in (seeds, links):
        blocks = _blocks(group)
        if order is None and len(blocks) > 1:
            order = {el: n for n, el in enumerate(tree.iter())}
        if order is not None:
            blocks.sort(key=lambda b: order.get(b, 0))  # type: ignore[union-attr]
        for block in blocks:
            names: list[str] = []
            for role, raw in credits(tokens(block, marked)):
                name = clean(raw) if role == _AUTHOR and looks_like_name(raw) else None
                if name and name not in names:
                    names.append(name)
            if names:
                return names
    return []
