"""``arsip reextract``'s decision for one article: its pages merged, its new fields, which
fields changed against the stored ones, and a sample diff for the report."""

from __future__ import annotations

import difflib
from typing import Any

from crawler.dedup import Fingerprint, fingerprint
from crawler.extraction.article import ExtractedArticle
from storage.archive import LinkRecord
from storage.reextract_store import Current, NewFields


def merge_parts(parts: list[ExtractedArticle], fps: list[Fingerprint | None]
                ) -> tuple[ExtractedArticle, Fingerprint | None]:
    """The pages of a multi-page article as one (the crawl's ``_finish``): the first page's
    metadata, the bodies joined, the related links of every page."""
    if len(parts) == 1:
        return parts[0], fps[0]
    from dataclasses import replace

    merged = replace(parts[0])
    merged.body = "\n\n".join(p.body for p in parts if p.body.strip())
    merged.related = [link for p in parts for link in p.related]
    return merged, fingerprint(merged.body) if merged.body.strip() else None


def new_fields(article: ExtractedArticle, fp: Fingerprint | None) -> NewFields:
    from crawler.pipelines import _parse_dt

    return NewFields(
        title=article.title, authors=list(article.authors),
        published=_parse_dt(article.published), published_local=article.published,
        modified=_parse_dt(article.modified), modified_local=article.modified,
        language=article.language, description=article.description, image=article.image,
        section=article.section, tags=list(article.tags), body=article.body,
        related=[LinkRecord(url=r.url, title=r.title, kind=r.kind) for r in article.related],
        fingerprint=fp,
    )


def changed_fields(current: Current, new: NewFields) -> list[str]:
    out = []
    if (current.title or None) != (new.title or None):
        out.append("title")
    if list(current.authors or []) != new.authors:
        out.append("authors")
    if (current.published_local, current.modified_local) != (new.published_local,
                                                             new.modified_local):
        out.append("dates")
    if current.body != new.body:
        out.append("body")
    if set(current.links) != {(r.url, r.kind) for r in new.related}:
        out.append("links")
    if (current.language, current.description, current.image, current.section,
            list(current.tags or [])) != (new.language, new.description, new.image,
                                          new.section, new.tags):
        out.append("metadata")
    return out


def diff_sample(current: Current, new: NewFields, fields: list[str]) -> dict[str, Any]:
    old_lines = [current.title or "", ""] + current.body.splitlines()
    new_lines = [new.title or "", ""] + new.body.splitlines()
    diff = "\n".join(difflib.unified_diff(old_lines, new_lines, "stored", "re-extracted",
                                          lineterm="", n=1))
    sample: dict[str, Any] = {"id": current.id, "url": current.canonical_url,
                              "fields": fields, "diff": diff[:4000]}
    if "authors" in fields:
        sample["authors"] = {"stored": current.authors, "new": new.authors}
    if "dates" in fields:
        sample["published"] = {"stored": current.published_local, "new": new.published_local}
    if "links" in fields:
        sample["links"] = {"gained": sorted({r.url for r in new.related}
                                            - {u for u, _ in current.links}),
                           "lost": sorted({u for u, _ in current.links}
                                          - {r.url for r in new.related})}
    return sample
