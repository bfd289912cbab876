"""Sites (``/sites``): per site its articles, runs, failures, schedule and a 90-day chart."""

from __future__ import annotations

from datetime import date
from typing import Any

from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from storage.dashboard import articles_per_day, recent_runs, site_counts
from storage.models import utcnow
from storage.queries import site_stats
from storage.schedule import run_dict
from web.daemon import daemon_info, schedules
from web.http import page
from web.render import render
from web.state import WebState, state_of
from web.svg import BAR_WIDTH, CHART_HEIGHT, day_bars

DAYS = 90
SLOW_TTL = 60.0  # seconds
COUNTS_TTL = 10.0  # seconds


class Charts:
    """The per-day counts of every site and their charts (SVG, from ``_chart.html``),
    computed together at most once a minute: the chart's 90 bars are some 450 escaped
    values a site, most of the sites page's rendering when drawn at every view."""

    def __init__(self, per_day: dict[str, dict[date, int]], today: date) -> None:
        self.per_day = {name: {d.isoformat(): c for d, c in sorted(counts.items())}
                        for name, counts in per_day.items()}
        self.today = today
        self.charts = {name: self._draw(counts) for name, counts in per_day.items()}
        self.empty = self._draw({})

    def _draw(self, counts: dict[date, int]) -> tuple[Markup, int]:
        bars, peak = day_bars(counts, days=DAYS, today=self.today)
        return Markup(render("_chart.html", {  # the template's own output: escaped there
            "bars": bars, "chart_w": DAYS * BAR_WIDTH, "chart_h": CHART_HEIGHT,
            "days": DAYS})), peak

    def of(self, name: str) -> tuple[dict[str, int], Markup, int]:
        """({ISO day: articles}, chart, busiest day's articles) of site ``name``."""
        chart, peak = self.charts.get(name, self.empty)
        return self.per_day.get(name, {}), chart, peak


def _sites(state: WebState, session: Session) -> dict[str, Any]:
    runs = recent_runs(session, per_site=5)
    plan, daemons = schedules(state, session, {name: r[0] for name, r in runs.items() if r})
    return {"runs": runs, "plan": plan, "daemons": daemons}


def sites(request: Request) -> Response:
    state = state_of(request)
    got = state.read(lambda s: _sites(state, s))
    # the article counts read an index entry per article (0.3-0.5 s of every view at a
    # million articles, most of the server's time under load): at most COUNTS_TTL old
    counts = state.cached("site_counts", COUNTS_TTL, site_counts)
    got["stats"] = [{"site": name, "articles": count, "near_duplicates": dups}
                    for name, (count, dups) in counts.items()]
    # the chart and `arsip stats`'s figures read many rows: computed at most once a minute
    # (the runs above are current)
    charts = state.cached("per_day", SLOW_TTL,
                          lambda s: Charts(articles_per_day(s, days=DAYS), utcnow().date()))
    slow = {row["site"]: row for row in state.cached("site_stats", SLOW_TTL, site_stats)}
    got["stats"] = [{**slow.get(row["site"], {}), **row} for row in got["stats"]]
    rows = []
    names = [r["site"] for r in got["stats"]]
    names += [n for n in got["plan"] if n not in names]
    by_name = {r["site"]: r for r in got["stats"]}
    for name in names:
        stats = by_name.get(name) or {"site": name, "articles": 0}
        plan = got["plan"].get(name, {})
        runs = [run_dict(r, name) for r in got["runs"].get(name, [])]
        per_day, chart, peak = charts.of(name)
        failures = [r for r in runs if r["status"] not in ("finished", "running")
                    or (r["stats"] or {}).get("errors")]
        rows.append({
            **stats,
            "schedule": plan.get("schedule"), "next_run": plan.get("next_run"),
            "next_run_source": plan.get("next_run_source"),
            "last_run": runs[0] if runs else None,
            "recent_runs": runs, "failures": failures,
            "articles_per_day": per_day,
            "chart": chart, "peak": peak,
        })
    data = {"sites": [{k: v for k, v in r.items() if k not in ("chart", "peak")} for r in rows],
            "daemon": daemon_info(got["daemons"])}
    context = {"rows": rows, "daemon": data["daemon"], "days": DAYS}
    return page(request, "sites.html", context, data)


ROUTES = [Route("/sites", sites), Route("/api/sites", sites)]
