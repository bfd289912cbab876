"""The app's routes, one module per kind of page; each exposes ``ROUTES``."""
