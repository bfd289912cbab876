"""Learned narrowing of the tree that trafilatura reads, per site template.

trafilatura's cost grows with the whole page (it copies, cleans and prunes every element),
but on a news page the body is a small part of it: navigation, teaser lists and the footer
are most of the 60 KB. A crawl reads hundreds of pages made from one template, so a
:class:`BodyScopes` learns, per host, which container holds what trafilatura extracts, and
from then on gives trafilatura that container alone.

It never trusts a container it has not checked. For a page without a trusted container it
runs trafilatura on the whole page, as before, and also on the container that trafilatura's
own content XPaths point at; a container is trusted only after both gave the very same text
on ``learn`` pages of the host, and one different result refuses it for good. A trusted
container is re-checked against the whole page every ``recheck_every`` uses, and a page
whose container yields short text (where trafilatura's fallbacks matter) gets the whole-page
run. The state is per process and bounded; one crawl's extraction worker holds one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from lxml import etree
from lxml.html import HtmlElement, html_parser

from crawler.extraction import body as body_mod

LEARN_PAGES = 3  # agreeing pages before a container is trusted
RECHECK_EVERY = 50  # a trusted container's every Nth use is checked against the whole page
GIVE_UP_AFTER = 8  # pages in a row that taught nothing: stop searching on this host ...
RETRY_EVERY = 200  # ... but search again every this many pages
MAX_HOSTS = 2000
MAX_CONTAINERS_PER_HOST = 64  # beyond: the untrusted ones are forgotten
_DIGITS = re.compile(r"\d")


Locator = Callable[[HtmlElement], "HtmlElement | None"]


@dataclass
class _Container:
    find: Locator  # the container on a page of the template, or None
    agreed: int = 0
    used: int = 0
    trusted: bool = False
    refused: bool = False


@dataclass
class _Host:
    containers: dict[tuple[str, str, str], _Container] = field(default_factory=dict)
    idle: int = 0  # pages in a row on which learning found nothing usable
    pages: int = 0


@dataclass
class ScopeStats:
    narrowed: int = 0  # pages extracted from the container alone
    whole: int = 0  # pages extracted from the whole page
    checks: int = 0  # pages extracted both ways (learning or re-check)
    refused: int = 0  # containers refused after a disagreement
    errors: int = 0  # pages on which the learning itself failed (whole-page text used)


class BodyScopes:
    def __init__(self, *, learn: int = LEARN_PAGES, recheck_every: int = RECHECK_EVERY) -> None:
        self.learn = learn
        self.recheck_every = recheck_every
        self.stats = ScopeStats()
        self._hosts: dict[str, _Host] = {}

    def body_text(self, tree: HtmlElement, url: str | None) -> str:
        """What ``body.run_trafilatura(tree, url)`` returns, from a narrower tree when a
        container of this page's template has proved to give the same text. Whatever goes
        wrong in the learning gives the whole-page text, never a failed page."""
        try:
            return self._body_text(tree, url)
        except Exception:  # noqa: BLE001 - an optimisation must not cost an article
            self.stats.errors += 1
            return self._whole(tree, url)

    def _body_text(self, tree: HtmlElement, url: str | None) -> str:
        host_name = urlsplit(url).netloc.lower() if url else ""
        if not host_name:
            return self._whole(tree, url)
        host = self._host(host_name)
        host.pages += 1
        for container in host.containers.values():
            if not container.trusted:
                continue
            element = container.find(tree)
            if element is None:
                continue
            container.used += 1
            if container.used % self.recheck_every:
                text = _narrow_text(element, url)
                if len(text) >= body_mod.FAST_FIRST_MIN_CHARS:
                    self.stats.narrowed += 1
                    return text
                return self._whole(tree, url)
            return self._check(container, element, tree, url, host)
        if host.idle >= GIVE_UP_AFTER and host.pages % RETRY_EVERY:
            return self._whole(tree, url)
        found = _candidate(tree)
        if found is None:
            host.idle += 1
            return self._whole(tree, url)
        key, find = found
        if key not in host.containers and len(host.containers) >= MAX_CONTAINERS_PER_HOST:
            host.containers = {k: c for k, c in host.containers.items() if c.trusted}
        container = host.containers.setdefault(key, _Container(find))
        element = container.find(tree)
        if container.refused or element is None:
            host.idle += 1
            return self._whole(tree, url)
        return self._check(container, element, tree, url, host)

    def _check(self, container: _Container, element: HtmlElement, tree: HtmlElement,
               url: str | None, host: _Host) -> str:
        self.stats.checks += 1
        text = self._whole(tree, url)
        narrow = _narrow_text(element, url)
        if len(narrow) < body_mod.FAST_FIRST_MIN_CHARS:
            host.idle += 1  # the whole-page run would be taken for this page anyway
        elif narrow == text:
            host.idle = 0
            container.agreed += 1
            container.trusted = container.agreed >= self.learn
        else:
            host.idle += 1
            container.trusted, container.refused = False, True
            self.stats.refused += 1
        return text

    def _whole(self, tree: HtmlElement, url: str | None) -> str:
        self.stats.whole += 1
        return body_mod.run_trafilatura(tree, url)

    def _host(self, name: str) -> _Host:
        host = self._hosts.get(name)
        if host is None:
            if len(self._hosts) >= MAX_HOSTS:
                self._hosts.clear()
            host = self._hosts[name] = _Host()
        return host


def _candidate(tree: HtmlElement) -> tuple[tuple[str, str, str], Locator] | None:
    """The container trafilatura's content XPaths find first, and an XPath that finds the
    same kind of element on another page of the template (its tag, class and id; an id with
    digits in it names one article, not the template, and is left out)."""
    from trafilatura.xpaths import BODY_XPATH

    for expr in BODY_XPATH:
        hit = next((h for h in expr(tree) if isinstance(h, etree._Element)), None)
        if hit is None or not isinstance(hit.tag, str):
            continue
        tag, cls, ident = hit.tag, hit.get("class"), hit.get("id")
        if ident is not None and _DIGITS.search(ident):
            ident = None
        conditions = []
        variables = {}
        if cls is not None:
            conditions.append("@class=$cls")
            variables["cls"] = cls
        if ident is not None:
            conditions.append("@id=$ident")
            variables["ident"] = ident
        test = f"[{' and '.join(conditions)}]" if conditions else ""
        return (tag, cls or "", ident or ""), _locator(f"(//{tag}{test})[1]", variables)
    return None


def _locator(path: str, variables: dict[str, str]) -> Locator:
    compiled = etree.XPath(path)

    def find(page: HtmlElement) -> HtmlElement | None:
        found = compiled(page, **variables)
        return found[0] if found else None

    return find


def _narrow_text(element: HtmlElement, url: str | None) -> str:
    """trafilatura's text for a document holding a copy of ``element`` alone."""
    root = html_parser.makeelement("html")
    body = html_parser.makeelement("body")
    root.append(body)
    body.append(deepcopy(element))
    body[0].tail = None
    return body_mod.run_trafilatura(root, url)
