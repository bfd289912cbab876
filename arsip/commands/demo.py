"""`arsip demo`: crawl the bundled sample news site (served on 127.0.0.1) into the archive.

Works without internet: it serves the sample site (in the style of intisari-online.com) on a
free local port, crawls it with the real crawler into the default archive (or --database),
and prints what it archived.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any


def register(sub: Any, common: Any) -> None:
    p = sub.add_parser("demo", parents=[common], help="crawl the bundled sample site (offline)",
                       description=__doc__)
    p.add_argument("--port", type=int, default=0, help="serve the sample site on this port")
    p.add_argument("--workers", type=int, default=None,
                   help="extraction worker processes (default: one per core)")
    p.set_defaults(func=run)


def run(args: Any) -> int:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from arsip.commands._common import settings
    from arsip.sample_site.server import SiteServer
    from crawler.options import from_url
    from crawler.runner import CrawlJob, run_crawls, summary_line
    from storage.engine import DEFAULT_DATABASE_URL, open_reader, redact
    from storage.models import Article, ArticleLink, ArticleURL, Site

    cfg = settings()
    with SiteServer(port=args.port) as server:
        print(f"serving the sample news site at {server.url}/")
        # one site name whatever the port, so that repeated demos fold into one site
        options = replace(from_url(server.url + "/"), name="demo")
        outcomes = run_crawls([CrawlJob(options, trigger="cli")],
                              database_url=cfg.database_url, contact_url=cfg.contact_url,
                              extract_workers=args.workers, progress_interval=1e9)
    for outcome in outcomes:
        print(summary_line(outcome))
    engine = open_reader(cfg.database_url)
    with Session(engine) as session:
        site_id = session.execute(select(Site.id).where(Site.name == options.name)).scalar_one()
        rows = session.execute(
            select(Article.id, Article.title, Article.published_local,
                   select(func.count()).where(ArticleLink.from_article_id == Article.id)
                   .scalar_subquery(),
                   select(func.count()).where(ArticleURL.article_id == Article.id)
                   .scalar_subquery())
            .where(Article.site_id == site_id).order_by(Article.published.desc())
        ).all()
    engine.dispose()
    where = redact(cfg.database_url or DEFAULT_DATABASE_URL)
    print(f"\narchived {len(rows)} articles into {where}:")
    for art_id, title, published, links, urls in rows:
        day = (published or "")[:10]
        print(f"  #{art_id:<4} {day}  {title[:80] if title else '(untitled)'}"
              f"  [{links} related, {urls} URLs]")
    print("\nnext: arsip search Kazakhstan · arsip show 1 · arsip related 1 · "
          "arsip export --format jsonl")
    serve = "arsip serve" if cfg.database_url is None else f"arsip --database {where} serve"
    print(f"browse it: {serve}, then open http://127.0.0.1:8080/")
    return 0 if all(o.status == "finished" for o in outcomes) else 1
