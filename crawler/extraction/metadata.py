"""Article metadata: structured data first (JSON-LD, OpenGraph, meta), the visible page next."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from lxml import etree
from lxml.html import HtmlElement

from crawler.extraction.byline import page_authors
from crawler.extraction.dates import DATE_FRAGMENT_RE, WIB, find_date_in_tree, parse_date
from crawler.extraction.html import text_of
from crawler.extraction.links import absolute
from crawler.extraction.structured import Structured, ld_people, ld_text

_SEPARATORS = re.compile(r"\s+[-|–—:»·•/]\s+|\s*\|\s*|\s+::\s+")
_DOMAIN_RE = re.compile(r"\b[\w-]+\.(?:com|co\.id|id|net|org|co|tv|news|co\.uk)\b", re.I)
_ORG_WORDS = re.compile(
    r"\b(?:pt|cv|tbk|media|network|news|redaksi|newsroom|staff|team|tim|desk|admin|cyber"
    r"|digital|group|kompas|detik|tribun|liputan6|okezone|viva|tempo|antara|reuters|afp|ap"
    r"|associated press|bloomberg|editorial|wire|agency|press|administrator|webmaster)\b",
    re.I,
)
_DATE_PUBLISHED_META = (
    "article:published_time", "og:article:published_time", "datepublished", "publishdate",
    "publish-date", "pubdate", "publish_date", "date", "dc.date.issued", "dc.date",
    "dcterms.created", "sailthru.date", "parsely-pub-date", "content_publisheddate",
    "article.published", "published_time", "release_date", "originalpublicationdate",
    "og:published_time", "cxenseparse:recs:publishtime",
)
_DATE_MODIFIED_META = ("article:modified_time", "og:updated_time", "datemodified",
                       "last-modified", "dcterms.modified", "article.updated", "lastmod")
_AUTHOR_META = ("author", "article:author", "dc.creator", "byl", "sailthru.author",
                "parsely-author", "content_author", "twitter:creator")


def site_words(url: str, structured: Structured) -> set[str]:
    """Lower-case names by which the site calls itself (host labels, og:site_name)."""
    words: set[str] = set()
    host = urlsplit(url).netloc.lower().split(":")[0] if url.startswith("http") else ""
    for label in host.split("."):
        if label not in ("www", "com", "co", "id", "net", "org", "m", "en") and len(label) > 2:
            words.add(label)
    for name in structured.site_names:
        n = " ".join(name.lower().split())
        if n:
            words.add(n)
            words.add(re.sub(r"\.(com|co\.id|id|net|org)$", "", n))
    return words


def _is_site_part(part: str, words: set[str]) -> bool:
    p = " ".join(part.lower().split()).strip(" .:")
    if not p:
        return True
    if p in words or _DOMAIN_RE.fullmatch(p):
        return True
    squashed = re.sub(r"[^a-z0-9]", "", p)
    for w in words:
        ws = re.sub(r"[^a-z0-9]", "", w)
        if ws and len(p) <= len(w) + 25 and (ws in squashed) and len(p.split()) <= 5:
            return True
    return False


def strip_site(title: str, words: set[str]) -> str:
    """Drop " - Kompas.com", "KapanLagi.com: ", "| Site Name" parts at either end."""
    title = " ".join(title.split())
    prefix = re.match(r"^([^:]{2,40}):\s+(?=\S)", title)  # "KapanLagi.com: ..."
    if prefix and _is_site_part(prefix.group(1), words):
        title = title[prefix.end():]
    for _ in range(3):
        parts = _SEPARATORS.split(title)
        if len(parts) < 2:
            break
        seps = _SEPARATORS.findall(title)
        if _is_site_part(parts[-1], words):
            title = title[: len(title) - len(parts[-1]) - len(seps[-1])].strip()
        elif _is_site_part(parts[0], words):
            title = title[len(parts[0]) + len(seps[0]):].strip()
        else:
            break
    return title


def _norm(text: str) -> str:
    return re.sub(r"\W+", " ", text.casefold()).strip()


def choose_title(tree: HtmlElement, structured: Structured, words: set[str]) -> str | None:
    article = structured.article or {}
    candidates = [ld_text(article.get("headline")), ld_text(article.get("name")),
                  structured.first("og:title"), structured.first("twitter:title"),
                  structured.first("title", "headline", "dc.title")]
    title_tag = tree.find(".//title")
    if title_tag is not None:
        candidates.append(text_of(title_tag))
    metas = [strip_site(c, words) for c in candidates if c]
    metas = [m for m in metas if m]
    headings = [text_of(h) for h in _xpath("//h1")(tree)][:6]
    headings = [h for h in headings if 3 <= len(h) <= 400]
    # the visible headline when it agrees with what the page's metadata says: the same
    # text first, else a headline inside the meta title, else a meta title inside a heading
    normed = [(h, _norm(h)) for h in headings]
    nmetas = [_norm(m) for m in metas]
    for test in (lambda nh, nm: nh == nm, lambda nh, nm: len(nh) >= 15 and nh in nm,
                 lambda nh, nm: len(nm) >= 15 and nm in nh):
        for h, nh in normed:
            if nh and any(test(nh, nm) for nm in nmetas):
                return strip_site(h, words) or h
    if metas:
        return metas[0]
    for h in headings:
        if not _is_site_part(h, words):
            return h
    return None


_NAME_PREFIX = re.compile(
    r"^(?:(?:published|posted|written|reviewed|review|commentary|photos?|words|story)\s+)?"
    r"(?:by|oleh|penulis|reporter|pewarta)\b\s*:?\s*|^By(?=[A-Z])",
    re.I,
)
_NAME_SUFFIX = re.compile(
    r"\s*(?:\b(?:senior|staff|contributing|deputy|managing|executive|city|chief|associate)\s+)?"
    r"\b(?:writer|editor|columnist|contributor|correspondent|reporter|jurnalis|wartawan"
    r"|published|updated|posted|est|edt|et|pst|pt|gmt|utc)\b.*$",
    re.I,
)


def _clean_person(name: str, words: set[str]) -> str | None:
    name = " ".join(name.split()).strip(" ,;|-")
    name = _NAME_PREFIX.sub("", name)
    name = _NAME_SUFFIX.sub("", name).strip(" ,;|-•")
    if not name or len(name) > 50 or name.startswith(("http://", "https://", "@")):
        return None
    if ":" in name or re.search(r"\d|[\[\](){}]", name) or len(name.split()) > 5:
        return None
    if _is_site_part(name, words) or _ORG_WORDS.search(name) or _DOMAIN_RE.search(name):
        return None
    if not re.search(r"[^\W\d_]", name) or not name[0].isupper():
        return None
    return name


def _split_people(value: str) -> list[str]:
    return [p for p in re.split(r"\s*(?:,|;|&|\band\b|\bdan\b|\n)\s*", value) if p.strip()]


_DATE_PUBLISHED_ATTRS = ('//@itemprop[. = "datePublished"]/../@content'
                         ' | //@itemprop[. = "datePublished"]/../@datetime')
# text nodes that can hold a year ("19xx"/"20xx", see _YEAR) and are short enough
_DATE_TEXTS = ("//body//text()[contains(., '19') or contains(., '20')]"
               "[string-length(normalize-space(.)) < 120]")
_XPATHS: dict[str, etree.XPath] = {}


def _xpath(expr: str) -> etree.XPath:
    """``expr`` compiled once per process (``tree.xpath(expr)`` compiles it on every call)."""
    compiled = _XPATHS.get(expr)
    if compiled is None:
        compiled = _XPATHS[expr] = etree.XPath(expr)
    return compiled


def visible_bylines(tree: HtmlElement, words: set[str]) -> list[str]:
    """The authors named by the page's visible byline (see :mod:`crawler.extraction.byline`)."""
    return page_authors(tree, lambda name: _clean_person(name, words))


def choose_authors(tree: HtmlElement, structured: Structured, bylines: list[str],
                   words: set[str]) -> list[str]:
    """Authors, best evidence first: a labelled byline line ("Penulis: X"), JSON-LD persons,
    meta author, the page's visible byline block; organisations and the site are no authors
    (so a site name in the structured data gives way to the person the page shows)."""
    article = structured.article or {}

    def groups() -> Iterator[list[str]]:  # each only when the ones before name nobody
        yield bylines
        if article.get("author") is not None:
            yield ld_people(article.get("author"))
        yield structured.all(*_AUTHOR_META)
        yield visible_bylines(tree, words)

    for group in groups():
        names: list[str] = []
        for value in group:
            for part in _split_people(value):
                name = _clean_person(part, words)
                if name and name not in names:
                    names.append(name)
        if names:
            return names
    return []


def default_timezone(url: str, language: str | None, structured: Structured) -> timezone | None:
    host = urlsplit(url).netloc.lower()
    if language == "id" or host.endswith(".id") or host.endswith(".co.id"):
        return WIB
    tzname = structured.first("article:timezone")
    if tzname and re.fullmatch(r"[+-]\d{2}:\d{2}", tzname):
        sign = 1 if tzname[0] == "+" else -1
        return timezone(sign * timedelta(hours=int(tzname[1:3]), minutes=int(tzname[4:6])))
    return None


_YEAR = re.compile(r"(?:19|20)\d\d")
_DATEISH = re.compile(r"date|time|tanggal|tgl|publish|posted|waktu|byline|meta|info", re.I)


def visible_date(tree: HtmlElement, tz: timezone | None) -> str | None:
    """The likeliest visible publication date: a short text such as "Sabtu, 8 Januari 2022 |
    10:15 WIB"; one with a time of day, in a date-like element, beats the page header's
    date of today."""
    for value in _xpath("//time/@datetime")(tree)[:3]:
        found = parse_date(value, default_tz=tz)
        if found:
            return found
    best: tuple[int, int, str] | None = None
    nodes = [n for n in _xpath(_DATE_TEXTS)(tree) if _YEAR.search(n)]
    for position, node in enumerate(nodes[:500]):
        text = " ".join(str(node).split())
        m = DATE_FRAGMENT_RE.search(text)
        if not m:
            continue
        holder = node.getparent()
        if holder is None or holder.tag in ("script", "style", "a", "option", "title"):
            continue
        score = 2 if m.group("time") else 0
        el, depth = holder, 0
        while el is not None and depth < 3:
            attrs = " ".join(filter(None, (el.get("class"), el.get("id"), el.get("itemprop"))))
            if _DATEISH.search(attrs) or el.tag == "time":
                score += 1
                break
            el, depth = el.getparent(), depth + 1
        if best is None or score > best[0]:
            best = (score, -position, m.group(0))
    if best is not None:
        return parse_date(best[2], default_tz=tz)
    return None


def choose_dates(tree: HtmlElement, structured: Structured, tz: timezone | None,
                 url: str) -> tuple[str | None, str | None]:
    article = structured.article or {}
    published = parse_date(ld_text(article.get("datePublished")), default_tz=tz) or \
        parse_date(ld_text(article.get("dateCreated")), default_tz=tz)
    if not published:
        for name in _DATE_PUBLISHED_META:
            for value in structured.meta.get(name, ()):
                published = parse_date(value, default_tz=tz)
                if published:
                    break
            if published:
                break
    if not published:
        for value in _xpath(_DATE_PUBLISHED_ATTRS)(tree)[:2]:
            published = parse_date(value, default_tz=tz)
            if published:
                break
    shown = None
    if not published:
        published = shown = visible_date(tree, tz)
    if not published:
        published = parse_date(find_date_in_tree(tree, url), default_tz=tz)
    modified = parse_date(ld_text(article.get("dateModified")), default_tz=tz)
    if not modified:
        for name in _DATE_MODIFIED_META:
            for value in structured.meta.get(name, ()):
                modified = parse_date(value, default_tz=tz)
                if modified:
                    break
            if modified:
                break
    if tz is not None:
        published, modified = to_zone(published, tz), to_zone(modified, tz)
    if published and modified and published[:10] != modified[:10] and not shown:
        # The page shows one date. When it is the (later) modified date, two sources agree
        # that this is the date the page presents as its own (republished/updated pieces):
        # on aed2023-dev the annotated date follows it (date accuracy 0.843 -> 0.875).
        shown = visible_date(tree, tz)
        if shown and shown[:10] == modified[:10]:
            published = shown
    return published, modified


def to_zone(value: str | None, tz: timezone) -> str | None:
    """The same instant in the site's own zone (a UTC stamp of a WIB site becomes +07:00)."""
    if not value:
        return value
    try:
        return datetime.fromisoformat(value).astimezone(tz).isoformat()
    except ValueError:
        return value


_ID_WORDS = {"yang", "dan", "di", "ini", "itu", "dengan", "untuk", "dari", "tidak", "akan",
             "pada", "juga", "ke", "karena", "dalam", "bahwa", "mereka", "adalah", "kata"}
_EN_WORDS = {"the", "and", "of", "to", "in", "is", "that", "for", "it", "with", "was", "on",
             "as", "are", "this", "by", "be", "have", "from", "he", "she"}


def guess_language(text: str) -> tuple[str | None, bool]:
    """("id"/"en"/None, sure?) from common function words of the text."""
    counts = Counter(re.findall(r"[a-z]+", text[:5000].lower()))
    ind = sum(counts[w] for w in _ID_WORDS)
    eng = sum(counts[w] for w in _EN_WORDS)
    if ind + eng < 10:
        return None, False
    lang = "id" if ind > eng else "en"
    return lang, max(ind, eng) >= 3 * min(ind, eng) and ind + eng >= 20


def choose_language(tree: HtmlElement, structured: Structured, body: str) -> str | None:
    """Declared language, unless the body clearly is Indonesian/English against it
    (many Indonesian sites declare ``lang="en"`` in their templates)."""
    guess, sure = guess_language(body) if body else (None, False)
    article = structured.article or {}
    for value in (ld_text(article.get("inLanguage")), tree.get("lang"),
                  tree.get("{http://www.w3.org/XML/1998/namespace}lang"),
                  structured.first("og:locale", "content-language", "language", "dc.language")):
        if value:
            code = re.split(r"[-_]", value.strip().lower())[0]
            if re.fullmatch(r"[a-z]{2,3}", code):
                code = {"in": "id", "ind": "id", "eng": "en"}.get(code, code)
                if sure and code in ("id", "en") and guess != code:
                    return guess
                return code
    return guess


def keywords(structured: Structured) -> list[str]:
    article = structured.article or {}
    raw: list[str] = []
    kw = article.get("keywords")
    if isinstance(kw, list):
        raw.extend(x for x in kw if isinstance(x, str))
    elif isinstance(kw, str):
        raw.extend(kw.split(","))
    if not raw:
        raw.extend(structured.all("article:tag"))
    if not raw:
        for value in structured.all("news_keywords", "keywords"):
            raw.extend(value.split(","))
    out: list[str] = []
    seen: set[str] = set()
    for item in raw:
        item = " ".join(item.split())
        if item and item not in seen and len(item) <= 80:
            seen.add(item)
            out.append(item)
    if len(out) >= 8 and sum(" " not in t and t.islower() for t in out) >= 0.8 * len(out):
        return []  # a sentence cut into words, not tags
    return out


def section(structured: Structured) -> str | None:
    article = structured.article or {}
    return ld_text(article.get("articleSection")) or structured.first("article:section")


def description(structured: Structured) -> str | None:
    article = structured.article or {}
    return structured.first("og:description", "description", "twitter:description") or \
        ld_text(article.get("description"))


def image(structured: Structured, base: str) -> str | None:
    article = structured.article or {}
    value = structured.first("og:image", "og:image:url", "twitter:image", "twitter:image:src") \
        or ld_text(article.get("image")) or ld_text(article.get("thumbnailUrl"))
    return absolute(base, value)
