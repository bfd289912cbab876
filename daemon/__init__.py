"""The daemon's parts: scheduled jobs, the run-request queue and the crawl child processes.

Its entry point is the top-level ``scheduler`` module (``arsip daemon`` calls
``scheduler.serve``); see there for the design.
"""
