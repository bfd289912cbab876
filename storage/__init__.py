"""The archive: models, engine/session setup, writes, queries and search."""
