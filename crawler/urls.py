"""URL identity: one canonical form per article URL.

``canonicalize`` is applied to every URL before it is requested or stored. It builds on
w3lib's ``canonicalize_url`` (sorted query, percent-encoding normalised, fragment dropped) and
adds what news sites need: tracking parameters dropped, scheme/host/port normalised, and AMP,
print and pagination variants mapped to the article URL.

The canonical URL stays a URL one can fetch: its scheme and a ``www.`` prefix are kept as
given (some sites serve only http, some only the bare or only the www host). That
``http``/``https`` and ``www.``/bare name the same article is handled where URLs are
*compared*: ``identity_key`` (in-run "seen" sets) and ``url_variants`` (archive look-ups,
in ``storage/url_identity.py``).
``amp.`` and ``m.`` hosts are AMP/mobile renderings of the article: for article URLs they
are mapped to the bare host (which serves or redirects to the article).

What is never dropped: any parameter that may select content (``?p=123``, ``?id=5``,
``?page=article``: only a *numeric* or ``all`` page number is a pagination variant).
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

# what the archive needs of URL identity lives in storage; its names stay importable here
from storage.url_identity import base_host
from storage.url_identity import is_rendering_variant as is_rendering_variant
from storage.url_identity import url_variants as url_variants

# Query parameters that only track the reader, never select content.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid",
        "_ga", "_gl", "ref", "ref_src", "ref_url", "referrer", "cmpid",
        "share", "utm", "wt.mc_id", "ito", "icid", "spm", "s_cid", "trk", "__twitter_impression",
        "_x_tr_sl", "_x_tr_tl", "_x_tr_hl", "_x_tr_pto", "ocid", "twclid", "ttclid", "li_fat_id",
        "rdt_cid", "srsltid", "mkt_tok", "ncid", "sr_share",
    }
)
TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "hsa_", "oly_", "vero_", "__hs", "_hs", "at_")
# Pagination of an article (dropped for article URLs only, and only with a numeric or "all"
# value); listing pages keep them: see ``canonicalize(..., article=...)``.
PAGINATION_PARAMS = frozenset({"page", "halaman", "hal"})
PAGINATION_VALUE_RE = re.compile(r"^(\d{1,4}|all|semua)$", re.I)
# Parameters asking for another rendering of the same article.
VARIANT_PARAMS = frozenset(
    {"amp", "amp_js_v", "usqp", "outputtype", "print", "single", "showall", "show_all",
     "_amp", "amp_gsa", "aoh"}
)
# /amp/ anywhere in the path (``/amp/news/x``, ``/news/x/amp``), ``/x/amp.html``, ``/x.amp``
AMP_PATH_RE = re.compile(r"(/amp)(?=/|$)|(/amp\.html?)$|(\.amp)(?=$|\.html?$)", re.I)
# a trailing print segment only (``/news/x/print``): ``/print/123`` is not ``/123``
PRINT_PATH_RE = re.compile(r"/(print|cetak)/?$", re.I)
DEFAULT_PORTS = {"http": 80, "https": 443}
RENDERING_HOST_PREFIXES = ("amp.", "m.")


def _is_tracking(name: str) -> bool:
    low = name.lower()
    return low.startswith(TRACKING_PREFIXES) or low in TRACKING_PARAMS


def _is_variant(name: str, value: str) -> bool:
    low = name.lower()
    if low in VARIANT_PARAMS:
        return True
    return low in PAGINATION_PARAMS and bool(PAGINATION_VALUE_RE.match(value.strip()))


# the links a site repeats on every page (navigation, "Baca Juga" targets) hit these caches;
# 16k entries each hold about 10 MB in all, at any crawl size
@lru_cache(maxsize=16384)
def canonicalize(url: str, *, article: bool = True) -> str:
    """The canonical form of ``url`` (idempotent; non-http(s) URLs are returned as given).

    ``article=True`` (the default, for article URLs) also maps variants to the article:
    AMP (``/amp/``, ``?amp=1``, ``amp.`` hosts), mobile hosts (``m.``), a trailing print
    segment, and pagination (``?page=N``, ``?page=all``). ``article=False`` keeps them, so
    that listing pages ``/section?page=2`` stay distinct.
    """
    if _plainly_canonical(url, article):
        return url
    return _canonicalize_fully(url, article)


def _canonicalize_fully(url: str, article: bool) -> str:
    """``canonicalize`` without the shortcut for plain URLs."""
    result = _canonicalize_once(url, article)
    if result == url:  # canonical already: a fixed point
        return result
    # one pass can expose another variant (/print/print, /x/; -> /x/): settle it
    for _ in range(4):
        again = _canonicalize_once(result, article)
        if again == result:
            break
        result = again
    return result


# a URL no step of canonicalisation changes: http(s), a lower-case host of letters, digits
# and hyphens, a port, a path of unreserved characters without a trailing slash (or "/"), no
# query, no fragment. Such URLs are most of a site's links; the general path (w3lib included)
# costs 50 us a URL, this test 1.
_PLAIN_URL_RE = re.compile(
    r"(?P<scheme>https?)://(?P<host>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*"
    r"[a-z0-9])?)*)(?::(?P<port>[1-9][0-9]{0,4}))?(?P<path>/|(?:/[A-Za-z0-9._~-]+)+)\Z")


def _plainly_canonical(url: str, article: bool) -> bool:
    m = _PLAIN_URL_RE.match(url)
    if m is None:
        return False
    port = m.group("port")
    if port is not None and int(port) == DEFAULT_PORTS[m.group("scheme")]:
        return False
    path = m.group("path")
    if "/./" in path + "/" or "/../" in path + "/":
        return False  # dot segments: w3lib keeps them, but they are no plain path
    if article:
        host = m.group("host")
        if host.startswith(RENDERING_HOST_PREFIXES) and host.count(".") >= 2:
            return False
        if AMP_PATH_RE.search(path) or PRINT_PATH_RE.search(path):
            return False
    return True


def _canonicalize_once(url: str, article: bool) -> str:
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return url
    host = parts.hostname.lower().rstrip(".")
    try:
        port = parts.port
    except ValueError:
        port = None
    if article:
        for prefix in RENDERING_HOST_PREFIXES:
            if host.startswith(prefix) and host.count(".") >= 2:
                host = host[len(prefix):]
                break
    netloc = host if ":" not in host else f"[{host}]"
    if port and port != DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    path = parts.path or "/"
    query = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if _is_tracking(name):
            continue
        if article and _is_variant(name, value):
            continue
        query.append((name, value))
    if article:
        path = AMP_PATH_RE.sub("", path) or "/"
        path = PRINT_PATH_RE.sub("", path) or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    rebuilt = urlunsplit((scheme, netloc, path, urlencode(query), ""))
    try:
        return canonicalize_url(rebuilt, keep_fragments=False)
    except ValueError:
        # a host no browser would fetch (w3lib 2.6 and later refuse, e.g., "%" in it): the
        # URL as rebuilt above, the same at every pass
        return rebuilt


@lru_cache(maxsize=16384)
def identity_key(url: str, *, article: bool = True) -> str:
    """What two URLs share when they name the same page: the canonical URL without its
    scheme and ``www.`` (``//example.com/a`` for ``https://www.example.com/a?utm_x=1``)."""
    canonical = canonicalize(url, article=article)
    try:
        parts = urlsplit(canonical)
    except ValueError:
        return canonical
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return canonical
    netloc = parts.netloc.lower()
    host = parts.hostname
    base = base_host(host)
    if base != host:
        netloc = netloc.replace(host, base, 1)
    return urlunsplit(("", netloc, parts.path, parts.query, ""))


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def same_site(a: str, b: str) -> bool:
    """Whether two URLs are on the same site (www., amp. and m. prefixes ignored)."""
    return base_host(host_of(a)) == base_host(host_of(b)) != ""


def scheme_variants(url: str) -> list[str]:
    """``url`` and its other-scheme twin: http and https name the same article."""
    if url.startswith("https://"):
        return [url, "http://" + url[len("https://"):]]
    if url.startswith("http://"):
        return [url, "https://" + url[len("http://"):]]
    return [url]
