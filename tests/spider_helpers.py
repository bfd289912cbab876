"""Driving ``NewsSpider.parse_page`` on a saved response, without an extraction pool."""

from __future__ import annotations

import asyncio

from scrapy import Request
from scrapy.http import HtmlResponse

from crawler.extraction.article import ExtractedArticle
from crawler.spiders.news import NewsSpider


def parse(spider: NewsSpider, req: Request, article: ExtractedArticle) -> list[object]:
    """What ``parse_page`` yields for ``req``'s response, ``article`` being its extraction
    (what the pool would have returned)."""
    class Pool:
        async def process(self, *args: object) -> tuple[ExtractedArticle, None, None]:
            return article, None, None

    spider._pool = Pool()
    response = HtmlResponse(req.url, body=b"<html></html>", request=req)

    async def run() -> list[object]:
        return [o async for o in spider.parse_page(response)]

    return asyncio.run(run())
