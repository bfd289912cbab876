"""Crawling: spiders, extraction, deduplication, pipelines and Scrapy settings."""
