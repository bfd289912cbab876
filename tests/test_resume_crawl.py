"""A crawl after a crash, and every scheduled run, ends with the archive an uninterrupted
crawl gives: archived articles are not fetched again, but their stored related links
(``article_links``) continue the hop count, within ``related_depth``, as their pages' would.

The real ``arsip crawl`` CLI against ``tests/resume_site.py`` (stories that only related
links reach, 1, 2 and 3 hops from the listings), with the site's request log as the proof of
what was fetched.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from arsip.sample_site.server import SiteServer
from tests.conftest import BACKEND, PG_ADMIN_URL, _pg_create, _pg_drop, run_cli
from tests.fault_helpers import article_count, rows, spawn_cli, wait_for
from tests.resume_site import COUNT, GatedSite, path_of

LISTED = [path_of("L", n) for n in range(1, COUNT + 1)]
ONE_HOP = [path_of("R", n) for n in range(1, COUNT + 1)]
TWO_HOPS = [path_of("S", n) for n in range(1, COUNT + 1)]
THREE_HOPS = [path_of("T", n) for n in range(1, COUNT + 1)]


@pytest.fixture
def other_database_url(tmp_path: Path) -> Iterator[str]:
    """A second fresh archive (the uninterrupted crawl's), on the test backend."""
    if BACKEND == "postgresql":
        url, name = _pg_create(PG_ADMIN_URL)
        yield url
        _pg_drop(PG_ADMIN_URL, name)
    else:
        yield f"sqlite:///{tmp_path / 'reference.db'}"


def write_config(path: Path, base: str, **extra: object) -> None:
    lines = ["[[sites]]", 'name = "daerah"', f'start_urls = ["{base}/"]', "related_depth = 2",
             *(f"{k} = {v}" for k, v in extra.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def crawl(database_url: str) -> None:
    res = run_cli("crawl", "daerah", "--quiet", "--workers", "1",
                  env={"ARSIP_DATABASE_URL": database_url})
    assert res.returncode == 0, res.stdout + res.stderr


def archived(database_url: str) -> set[str]:
    return {url for (url,) in rows(database_url, "SELECT canonical_url FROM articles")}


def read_requests(server: SiteServer, since: int) -> list[str]:
    return sorted(r.path.split("?")[0] for r in server.requests[since:]
                  if r.path.startswith("/read/"))


def test_a_crawl_killed_midway_and_run_again_archives_what_an_uninterrupted_one_does(
        database_url: str, other_database_url: str, tmp_path: Path) -> None:
    site = GatedSite()
    with SiteServer(site.render) as server:
        write_config(tmp_path / "arsip.toml", server.url)
        crawl(other_database_url)  # undisturbed
        reference = archived(other_database_url)
        assert reference == {server.url + p for p in [*LISTED, *ONE_HOP, *TWO_HOPS]}

        # the same crawl into a fresh archive, SIGKILLed once it holds the listed stories and
        # two of their related ones, while R3, R4 and the 2-hop stories are in flight: R1
        # and R2 are archived, the stories only their links reach are not
        site.hold = {*ONE_HOP[2:], *TWO_HOPS}
        proc = spawn_cli("crawl", "daerah", "--quiet", "--workers", "1",
                         env={"ARSIP_DATABASE_URL": database_url})
        try:
            reached = wait_for(lambda: article_count(database_url) >= 6, timeout=120)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            site.release()
        killed = archived(database_url)
        assert reached and killed == {server.url + p for p in [*LISTED, *ONE_HOP[:2]]}

        before = len(server.requests)
        crawl(database_url)
        again = read_requests(server, before)
    # URL by URL what the undisturbed crawl archived: R3 and R4 through the known listed
    # stories' stored links (1 hop), S1 and S2 through known L -> known R (2 hops), S3 and
    # S4 through the R fetched now; nothing 3 hops away
    assert archived(database_url) == reference
    # no archived article fetched again; each missing story fetched once
    assert again == sorted([*ONE_HOP[2:], *TWO_HOPS]), again


@pytest.mark.parametrize("recheck", [False, True], ids=["not-due", "rechecked-304"])
def test_a_scheduled_run_finds_stories_linked_only_from_articles_archived_earlier(
        database_url: str, tmp_path: Path, recheck: bool) -> None:
    """Run 1 could not get R2 (and so S2) nor S3: the server failed them. Run 2 finds them:
    R2 only through L2's stored links, S3 only through L3 -> R3, all archived by run 1
    and not fetched again (or, when due for a re-check, answered 304 Not Modified)."""
    site = GatedSite()
    site.failing = {ONE_HOP[1], TWO_HOPS[2]}
    extra = {"recheck_days": 100000, "recheck_hours": 0} if recheck else {}
    with SiteServer(site.render, etags=True) as server:
        write_config(tmp_path / "arsip.toml", server.url, **extra)
        crawl(database_url)
        first = archived(database_url)
        missed = {server.url + p for p in [ONE_HOP[1], TWO_HOPS[1], TWO_HOPS[2]]}
        everything = {server.url + p for p in [*LISTED, *ONE_HOP, *TWO_HOPS]}
        assert first == everything - missed

        site.failing = set()
        before = len(server.requests)
        crawl(database_url)
        again = read_requests(server, before)
        not_modified = server.not_modified
    assert archived(database_url) == everything
    found = sorted([ONE_HOP[1], TWO_HOPS[1], TWO_HOPS[2]])
    if recheck:  # every archived story asked for again, conditionally: 304, links stored
        assert not_modified == len(first)
        assert again == sorted([*found, *(p.removeprefix(server.url) for p in first)])
    else:
        assert again == found, again
