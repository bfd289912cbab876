"""Spiders: they route requests; extraction and storage live elsewhere."""
