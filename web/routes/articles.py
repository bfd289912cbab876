"""One article (``/articles/<id>``), look-up by URL (``/archive/<url>``) and the archived page
itself (``/raw/<page id>``, served so that it can never run)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from storage.article_pages import (
    CURRENT,
    VersionText,
    article_for_urls,
    article_page,
    raw_page,
)
from storage.queries import REPLACED_BY
from storage.raw_codec import RawPageUnreadable
from web.diff import word_diff
from web.http import HTTPError, bounded_int, int_param, page, wants_json
from web.security import RAW_CSP
from web.state import state_of
from web.svg import GRAPH_SIZE, graph_layout

MAX_URL = 2048


def article(request: Request) -> Response:
    state = state_of(request)
    article_id = bounded_int(request.path_params["id"], "article id", low=1)
    old = int_param(request, "from", None, low=0, high=1_000_000)
    new = int_param(request, "to", None, low=0, high=1_000_000)
    got = state.read(lambda s: article_page(s, article_id, depth=2))
    view, texts = got.view, got.texts
    versions = sorted((v for v in texts if v != CURRENT), reverse=True)
    diff = None
    if versions:
        old = versions[0] if old is None else old
        new = CURRENT if new is None else new
        for v in (old, new):
            if v not in texts:
                raise HTTPError(404, f"article {article_id} has no version {v}")
        html, removed, added = word_diff(_text(texts[old]), _text(texts[new]))
        diff = {"from": old, "to": new, "removed": removed, "added": added, "html": html}
    data = view.as_dict()
    data["raw_pages"] = [{"id": r.id, "url": r.url, "fetched_at": r.fetched_at,
                          "status": r.status} for r in got.raw]
    data["related_in"] = got.related_in
    data["graph"] = got.graph.as_dict()
    history = [{"version": v, "title": texts[v].title, "reason": texts[v].reason,
                "first_seen": texts[v].first_seen, "last_seen": texts[v].last_seen}
               for v in versions]
    data["versions"] = history
    if diff:
        data["diff"] = {k: v for k, v in diff.items() if k != "html"}
    nodes, edges, hidden = graph_layout(got.graph)
    context = {"a": view, "raw": got.raw, "related_in": got.related_in,
               "versions": versions, "history": history, "replaced_by": REPLACED_BY,
               "diff": diff, "nodes": nodes, "edges": edges,
               "hidden": hidden, "graph_size": GRAPH_SIZE}
    return page(request, "article.html", context, data)


def _text(entry: VersionText) -> str:
    return f"{entry.title or ''}\n{entry.body}"


def by_url(request: Request) -> Response:
    state = state_of(request)
    url = request.path_params["url"]
    if request.url.query:
        url += "?" + request.url.query
    for scheme in ("http:/", "https:/"):  # a client may have folded the "//"
        if url.startswith(scheme) and not url.startswith(scheme + "/"):
            url = scheme + "/" + url[len(scheme):]
    if len(url) > MAX_URL:
        raise HTTPError(400, f"URL too long (at most {MAX_URL} characters)")
    candidates = _candidates(url)
    found = state.read(lambda s: article_for_urls(s, candidates))
    if found is None:
        raise HTTPError(404, "this URL is not in the archive", offer_search=True)
    prefix = "/api" if wants_json(request) else ""
    return RedirectResponse(f"{prefix}/articles/{found}", status_code=302)


def _candidates(url: str) -> list[str]:
    from crawler.urls import canonicalize

    out = [url]
    try:
        canonical = canonicalize(url)
    except Exception:  # noqa: BLE001 - a URL we cannot canonicalise is looked up as given
        canonical = url
    for form in (canonical, url.rstrip("/"), canonical.rstrip("/"), canonical + "/"):
        if form and form not in out:
            out.append(form)
    return out


def raw(request: Request) -> Response:
    state = state_of(request)
    page_id = bounded_int(request.path_params["id"], "raw page id", low=1)
    try:
        info, body = state.read(lambda s: raw_page(s, page_id))
    except RawPageUnreadable as exc:
        raise HTTPError(500, f"raw page {page_id} cannot be read: {exc}") from None
    kind = str({k.lower(): v for k, v in info.headers.items()}.get("content-type", ""))
    media = "text/html" if not kind or "html" in kind.lower() else "text/plain"
    charset = ""
    if "charset=" in kind.lower():
        value = kind.lower().split("charset=", 1)[1].split(";")[0].strip().strip('"')
        if value.replace("-", "").replace("_", "").isalnum() and len(value) < 40:
            charset = f"; charset={value}"
    # the stored charset, else none (the page's own <meta charset> then decides)
    return Response(body, headers={
        "Content-Type": media + charset,
        "Content-Security-Policy": RAW_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "SAMEORIGIN",
        "Cache-Control": "private, max-age=3600",
    })


ROUTES = [
    Route("/articles/{id}", article), Route("/api/articles/{id}", article),
    Route("/archive/{url:path}", by_url), Route("/api/archive/{url:path}", by_url),
    Route("/raw/{id}", raw),
]
