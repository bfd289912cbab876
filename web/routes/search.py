"""Search (``/``, ``/api/search``): the CLI's query syntax, filters, facets, keyset pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from storage.browse import MARK, ORDERS, SearchPage, search_page
from storage.filters import ArticleFilter, parse_date
from storage.query_parser import QueryError, parse
from web.http import HTTPError, int_param, page, text_param, wants_json
from web.state import state_of
from web.tokens import make_token, read_token, search_digest

FILTERS = ("site", "since", "until", "author", "language", "section")
MAX_QUERY_CHARS = 1000
PAGE_SIZES = (1, 100)


def search_filters(request: Request) -> tuple[dict[str, str], ArticleFilter]:
    given = {name: value for name in FILTERS
             if (value := text_param(request, name)) is not None}
    try:
        since = parse_date(given["since"]) if "since" in given else None
        until = parse_date(given["until"], end=True) if "until" in given else None
    except ValueError as exc:
        raise HTTPError(400, str(exc)) from None
    duplicates = request.query_params.get("duplicates") in ("1", "true", "on")
    if duplicates:
        given["duplicates"] = "1"
    return given, ArticleFilter(site=given.get("site"), since=since, until=until,
                                author=given.get("author"), language=given.get("language"),
                                section=given.get("section"), include_duplicates=duplicates)


def hit_json(hit: Any, copies: int) -> dict[str, Any]:
    data = hit.as_dict()  # the keys of `arsip search --format json`
    data["snippet"] = data["snippet"].replace(MARK[0], "**").replace(MARK[1], "**")
    data["copies"] = copies
    return data


def search(request: Request) -> Response:
    state = state_of(request)
    q = text_param(request, "q", max_len=MAX_QUERY_CHARS)
    given, filters = search_filters(request)
    order = request.query_params.get("order") or "newest"
    if order not in ORDERS:
        raise HTTPError(400, f"order must be one of: {', '.join(ORDERS)}")
    limit = int_param(request, "limit", 20, low=PAGE_SIZES[0], high=PAGE_SIZES[1]) or 20
    context: dict[str, Any] = {"q": q or "", "given": given, "order": order, "orders": ORDERS,
                               "result": None, "next_href": None, "facet_links": {}}
    if not q:
        if wants_json(request):
            raise HTTPError(400, "q (the search query) is required")
        return page(request, "search.html", context, None)
    try:
        query = parse(q)
    except QueryError as exc:
        raise HTTPError(400, f"bad search query: {exc}") from None
    digest = search_digest({"q": q, "order": order, **given})
    token = request.query_params.get("next")
    after = read_token(state.secret, digest, token) if token else None
    # facets on the first page (JSON) or on every page (HTML, whose sidebar shows them)
    with_facets = after is None or not wants_json(request)
    result: SearchPage = state.read(lambda s: search_page(
        s, query, filters, order=order, after=after, limit=limit, with_facets=with_facets))
    next_token = make_token(state.secret, digest, result.next_after) \
        if result.next_after else None
    data = {
        "query": q, "order": order, "filters": given,
        "results": [hit_json(h, result.copies.get(h.id, 0)) for h in result.hits],
        "next": next_token,
        "matches": result.matches if with_facets else None,
        "matches_capped": result.facets_capped if with_facets else None,
        "facets": {name: [{"value": v, "count": c} for v, c in values]
                   for name, values in result.facets.items()},
    }
    base = {"q": q, **given, "order": order}
    if limit != 20:
        base["limit"] = str(limit)
    context.update(
        result=result, data=data,
        next_href="?" + urlencode({**base, "next": next_token}) if next_token else None,
        facet_links={name: [(v, c, "?" + urlencode({**base, **_facet_params(name, v)}))
                            for v, c in values]
                     for name, values in result.facets.items()},
        first_href="?" + urlencode(base) if after else None,
    )
    return page(request, "search.html", context, data)


def _facet_params(name: str, value: str) -> dict[str, str]:
    if name == "year":
        return {"since": f"{value}-01-01", "until": f"{value}-12-31"}
    return {name: value}


ROUTES = [Route("/", search, name="search"), Route("/api/search", search)]
