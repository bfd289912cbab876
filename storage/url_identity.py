"""URL identity as the archive needs it: the forms under which one article URL may be
stored (``url_variants``: http/https and ``www.``/bare twins) and whether a URL names a print
or AMP rendering of a page (``is_rendering_variant``).

The canonical form of a URL (``canonicalize``, ``identity_key``) is made where URLs are
crawled: ``crawler/urls.py``, which builds on these.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

# host prefixes naming the same site as the bare host
SAME_HOST_PREFIXES = ("www.", "amp.", "m.")
# path segments naming a print or AMP rendering of a page
VARIANT_SEGMENTS = frozenset({"print", "cetak", "amp", "printable", "printer-friendly"})


def is_rendering_variant(url: str) -> bool:
    """Whether ``url`` names a print or AMP rendering of a page (a path segment such as
    ``/cetak/`` or ``/amp/``, or an ``amp.`` host): a worse name for an article than its own."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    segments = {seg.lower() for seg in parts.path.split("/") if seg}
    return bool(segments & VARIANT_SEGMENTS) or (parts.hostname or "").startswith("amp.")


def base_host(host: str) -> str:
    for prefix in SAME_HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            return host[len(prefix):]
    return host


def url_variants(url: str) -> list[str]:
    """The forms under which an article URL may be stored: ``url`` first, then its
    http/https and ``www.``/bare twins (all of them name the same article)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [url]
    host = parts.hostname
    base = base_host(host) if host.startswith("www.") else host
    hosts = [host]
    if _looks_like_domain(base):
        hosts += [h for h in (base, "www." + base) if h != host]
    out = [url]
    for scheme in ("https", "http"):
        for h in hosts:
            netloc = parts.netloc.replace(host, h, 1)
            form = urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))
            if form not in out:
                out.append(form)
    return out


def _looks_like_domain(host: str) -> bool:
    return "." in host and not host.replace(".", "").isdigit() and ":" not in host
