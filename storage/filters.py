"""Article filters shared by search and export: site, dates, author, language, duplicates.

They are rendered as SQL fragments over an ``articles`` row aliased ``a``, every value a
bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import BindParameter, TextClause, bindparam, select, text
from sqlalchemy.orm import Session

from storage.errors import NotFound
from storage.models import Site, UTCDateTime


def parse_date(value: str, *, end: bool = False) -> datetime:
    """``YYYY-MM-DD`` or full ISO 8601 as an aware UTC datetime.

    A bare date means its first instant, or with ``end`` the first instant of the next day
    (an exclusive upper bound, so ``--until 2024-05-01`` includes all of that day). A time
    without an offset is taken as UTC. Raises ValueError with a one-line message.
    """
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day, time(), tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a date (YYYY-MM-DD or ISO 8601): {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass
class ArticleFilter:
    site: str | None = None
    since: datetime | None = None  # published >= since
    until: datetime | None = None  # published < until
    author: str | None = None  # case-insensitive substring of one of the authors
    language: str | None = None  # "id" matches "id" and "id-ID"
    section: str | None = None  # the section's name, any case
    include_duplicates: bool = False

    def clause(self, session: Session) -> TextClause | None:
        """The filter as one SQL condition over an articles row aliased ``a`` (or None)."""
        where, params, binds = self.sql(session)
        if not where:
            return None
        return text(" AND ".join(where)).bindparams(*binds, **params)

    def sql(self, session: Session, *, id_column: str = "a.id",
            ) -> tuple[list[str], dict[str, Any], list[BindParameter[Any]]]:
        """(WHERE fragments over alias ``a``, parameter values, typed bind parameters)."""
        where: list[str] = []
        params: dict[str, Any] = {}
        binds: list[BindParameter[Any]] = []
        if self.site is not None:
            site_id = session.execute(select(Site.id).where(Site.name == self.site)).scalar()
            if site_id is None:
                raise NotFound(f"no site named {self.site!r} in the archive")
            where.append("a.site_id = :f_site")
            params["f_site"] = site_id
        if self.since is not None:
            where.append("a.published >= :f_since")
            binds.append(bindparam("f_since", self.since, type_=UTCDateTime()))
        if self.until is not None:
            where.append("a.published < :f_until")
            binds.append(bindparam("f_until", self.until, type_=UTCDateTime()))
        if self.language:
            where.append("(lower(a.language) = :f_lang "
                         "OR lower(a.language) LIKE :f_lang_sub ESCAPE '\\')")
            params["f_lang"] = self.language.lower()
            params["f_lang_sub"] = _like_escape(self.language.lower()) + "-%"
        if self.section:
            where.append("lower(a.section) = :f_section")
            params["f_section"] = self.section.lower()
        if self.author:
            pattern = "%" + _like_escape(self.author.lower()) + "%"
            if session.get_bind().dialect.name == "postgresql":
                where.append(
                    "EXISTS (SELECT 1 FROM json_array_elements_text(a.authors) AS au(v) "
                    "WHERE lower(au.v) LIKE :f_author ESCAPE '\\')"
                )
            else:
                where.append(
                    "EXISTS (SELECT 1 FROM json_each(a.authors) AS au "
                    "WHERE lower(au.value) LIKE :f_author ESCAPE '\\')"
                )
            params["f_author"] = pattern
        if not self.include_duplicates:
            if session.get_bind().dialect.name == "sqlite":
                # a look-up in the duplicates' own index (migration 0006): on SQLite
                # duplicate_of_id sits after the body in the row, so testing it row by row
                # reads the body's overflow pages, and a NOT IN list of every duplicate id
                # is built again for each query
                where.append("NOT EXISTS (SELECT 1 FROM articles AS d INDEXED BY "
                             f"ix_articles_duplicates WHERE d.id = {id_column} "
                             "AND d.duplicate_of_id IS NOT NULL)")
            else:
                where.append("a.duplicate_of_id IS NULL")
        return where, params, binds

    def needs_row(self) -> bool:
        """Whether the conditions read the article's row (not only its id)."""
        return bool(self.site is not None or self.since or self.until or self.author
                    or self.language or self.section)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
