"""Politeness: robots.txt Crawl-delay and the per-site delay are honoured, concurrency per host
is capped, and the User-Agent names arsip and the operator's contact URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from arsip.sample_site.server import SiteServer
from arsip.sample_site.site import Page, SampleSite
from tests.conftest import run_cli


def _with_crawl_delay(delay: float):
    sample = SampleSite()

    def render(target: str, base: str) -> Page:
        page = sample.render(target, base)
        if target == "/robots.txt":
            page = Page(200, page.body + f"Crawl-delay: {delay}\n".encode(), page.headers)
        return page

    return render


def _page_times(server: SiteServer) -> list[float]:
    return sorted(r.time for r in server.requests if r.path != "/robots.txt")


def _config(tmp_path: Path, url: str, **keys: object) -> dict[str, str]:
    keys = {"max_pages": 6, **keys}
    body = ["[[sites]]", 'name = "polite"', f'start_urls = ["{url}/"]',
            'allowed_domains = ["127.0.0.1"]', "related_depth = 0"]
    body += [f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"'
             for k, v in keys.items()]
    path = tmp_path / "arsip.toml"
    path.write_text("\n".join(body) + "\n", encoding="utf-8")
    return {"ARSIP_CONFIG": str(path)}


@pytest.mark.parametrize("source", ["crawl-delay", "download_delay"])
def test_delay_between_requests_is_honoured(source: str, database_url, tmp_path: Path):
    gap = 0.5
    renderer = _with_crawl_delay(gap) if source == "crawl-delay" else None
    with SiteServer(renderer) as server:
        keys: dict[str, object] = {"concurrency": 4}
        if source == "download_delay":
            keys["download_delay"] = gap
        env = _config(tmp_path, server.url, **keys)
        res = run_cli("crawl", "polite", "--quiet", "--workers", "0", env=env)
        assert res.returncode == 0, res.stderr
        times = _page_times(server)
    assert len(times) >= 4
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # a little slack for timer granularity; without the delay, gaps are a few ms
    assert min(gaps) >= gap * 0.9, gaps


def test_concurrency_per_host_is_capped(database_url, tmp_path: Path):
    with SiteServer(delay=0.3) as server:
        env = _config(tmp_path, server.url, concurrency=2, max_pages=12)
        res = run_cli("crawl", "polite", "--quiet", "--workers", "0", env=env)
        assert res.returncode == 0, res.stderr
        assert len(server.requests) >= 6
        assert server.max_in_flight <= 2


def test_user_agent_names_arsip_and_the_contact_url(database_url, tmp_path: Path):
    with SiteServer() as server:
        env = _config(tmp_path, server.url)
        config = Path(env["ARSIP_CONFIG"])
        config.write_text('contact_url = "https://archive.example.org/contact"\n'
                          + config.read_text(encoding="utf-8"), encoding="utf-8")
        res = run_cli("crawl", "polite", "--quiet", "--workers", "0", env=env)
        assert res.returncode == 0, res.stderr
        agents = {r.user_agent for r in server.requests}
    assert agents
    for agent in agents:
        assert agent.startswith("arsip/")
        assert "https://archive.example.org/contact" in agent


def test_robots_txt_holds_for_requests_that_wait_for_it_together(database_url, tmp_path: Path):
    """Several start requests to one host wait for its robots.txt at once: every one of them
    is checked against it (Scrapy's own middleware lets all but the first through)."""
    with SiteServer(delay=0.2) as server:
        config = tmp_path / "arsip.toml"
        starts = [f"{server.url}/private/draft-{i}" for i in range(4)]
        starts += [f"{server.url}/", f"{server.url}/section/histori"]
        config.write_text(
            "[[sites]]\nname = \"robots\"\n"
            f"start_urls = {starts!r}\n".replace("'", '"')
            + 'allowed_domains = ["127.0.0.1"]\ndepth = 0\nrelated_depth = 0\n',
            encoding="utf-8")
        res = run_cli("crawl", "robots", "--quiet", "--workers", "0",
                      env={"ARSIP_CONFIG": str(config)})
        assert res.returncode == 0, res.stderr
        paths = server.paths()
    assert "/section/histori" in paths
    assert not any(p.startswith("/private/") for p in paths), paths
