"""URL identity: one canonical form per article URL.

``canonicalize`` is applied to every URL before it is requested or stored. It builds on
w3lib's ``canonicalize_url`` (sorted query, percent-encoding normalised, fragment dropped) and
adds what news sites need: tracking parameters dropped, scheme/host/port normalised, and AMP,
print and pagination variants mapped to the article URL.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

# Query parameters that only track the reader, never select content.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid",
        "_ga", "_gl", "ref", "ref_src", "ref_url", "referrer", "cmpid",
        "share", "utm", "wt.mc_id", "ito", "icid", "spm", "s_cid", "trk", "__twitter_impression",
        "_x_tr_sl", "_x_tr_tl", "_x_tr_hl",
    }
)
TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "hsa_", "oly_", "vero_", "__hs", "_hs")
# Parameters above that select content on non-article pages (listing pagination) are only
# dropped for article URLs: see ``canonicalize(..., article=...)``.
PAGINATION_PARAMS = frozenset({"page", "halaman"})
VARIANT_PARAMS = frozenset(
    {"amp", "amp_js_v", "usqp", "outputtype", "print", "single", "showall", "show_all"}
)
AMP_PATH_RE = re.compile(r"(/amp)(?=/|$)|(/amp\.html?)$|(\.amp)(?=$|\.html?$)", re.I)
PRINT_PATH_RE = re.compile(r"/(print|cetak)(?=/|$)", re.I)
DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(name: str) -> bool:
    low = name.lower()
    return low.startswith(TRACKING_PREFIXES) or low in TRACKING_PARAMS


@lru_cache(maxsize=65536)
def canonicalize(url: str, *, article: bool = True) -> str:
    """The canonical form of ``url``.

    ``article=True`` (the default, for article URLs) also maps variants to the article:
    AMP (``/amp/``, ``?amp=1``, ``amp.`` hosts), print views, and pagination
    (``?page=N``, ``?page=all``). ``article=False`` keeps pagination parameters, so that
    listing pages ``/section?page=2`` stay distinct.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return url
    host = (parts.hostname or "").lower().rstrip(".")
    try:
        port = parts.port
    except ValueError:
        port = None
    if host.startswith("www."):
        host = host[4:]
    if article and host.startswith("amp."):
        host = host[4:]
    if host.startswith("m.") and article:
        host = host[2:]
    netloc = host if ":" not in host else f"[{host}]"
    if port and port != DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    path = parts.path or "/"
    query = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        low = name.lower()
        if _is_tracking(name):
            continue
        if article and (low in VARIANT_PARAMS or low in PAGINATION_PARAMS):
            continue
        query.append((name, value))
    if article:
        path = AMP_PATH_RE.sub("", path) or "/"
        path = PRINT_PATH_RE.sub("", path) or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    # the scheme is kept (some sites are http only); lookups try both: ``scheme_variants``
    rebuilt = urlunsplit((scheme, netloc, path, urlencode(query), ""))
    return canonicalize_url(rebuilt, keep_fragments=False)


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def same_site(a: str, b: str) -> bool:
    """Whether two URLs are on the same site (www. and amp. prefixes ignored)."""

    def base(h: str) -> str:
        for prefix in ("www.", "amp.", "m."):
            if h.startswith(prefix):
                return h[len(prefix):]
        return h

    return base(host_of(a)) == base(host_of(b)) != ""


def scheme_variants(url: str) -> list[str]:
    """``url`` and its other-scheme twin: http and https name the same article."""
    if url.startswith("https://"):
        return [url, "http://" + url[len("https://"):]]
    if url.startswith("http://"):
        return [url, "https://" + url[len("http://"):]]
    return [url]
