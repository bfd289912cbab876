"""The Jinja2 templates (autoescaped everywhere) and the filters they use.

Everything taken from the archive is untrusted: templates never mark it safe; the only
markup made here (highlights, diffs) is built by escaping the text first and then adding
our own tags.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from storage.browse import MARK


def safe_href(url: Any) -> str | None:
    """``url`` when it may be a link (http or https), else None (shown as text only)."""
    if not isinstance(url, str):
        return None
    text = url.strip()
    try:
        scheme = urlsplit(text).scheme.lower()
    except ValueError:
        return None
    if scheme not in ("http", "https") or any(ord(c) < 32 for c in text):
        return None
    return text


def marked(snippet: str) -> Markup:
    """A snippet with :data:`storage.browse.MARK` highlights: escaped, then <mark>ed."""
    escaped = str(escape(snippet))
    return Markup(escaped.replace(MARK[0], "<mark>").replace(MARK[1], "</mark>"))


def when(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, datetime | date):
        return value.strftime(fmt) + (" UTC" if isinstance(value, datetime) else "")
    return str(value)


def archive_path(url: str) -> str:
    return "/archive/" + quote(url, safe=":/?=&%#;,+@")


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(loader=PackageLoader("web", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True,
                      # the templates are the installed package's: not looked at again on
                      # every render (a stat per template and request)
                      auto_reload=False)
    env.filters.update(href=safe_href, marked=marked, when=when, archive_path=archive_path)
    return env


def render(template: str, context: dict[str, Any]) -> str:
    return environment().get_template(template).render(context)
