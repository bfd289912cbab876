"""Geometry of the two pictures (the related graph, the per-day chart). The SVG itself is
written by the templates, so every label is escaped like any other text."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

GRAPH_SIZE = 560
MAX_FIRST = 14  # links shown from the article itself
MAX_SECOND = 6  # links shown from each of those


@dataclass
class Node:
    x: float
    y: float
    level: int
    id: int | None
    title: str
    url: str
    archived: bool
    repeated: bool
    kind: str | None


@dataclass
class Edge:
    x1: float
    y1: float
    x2: float
    y2: float
    kind: str | None


def graph_layout(root: Any, *, size: int = GRAPH_SIZE) -> tuple[list[Node], list[Edge], int]:
    """Nodes and edges of ``root`` (a ``storage.queries.GraphNode`` tree, two levels) laid out
    radially: the article in the middle, its links on a circle, theirs further out. Returns
    (nodes, edges, links left out)."""
    c = size / 2
    r1, r2 = size * 0.24, size * 0.43
    nodes = [_node(root, c, c, 0)]
    edges: list[Edge] = []
    first = root.children[:MAX_FIRST]
    hidden = len(root.children) - len(first)
    sector = 2 * math.pi / max(len(first), 1)
    for i, child in enumerate(first):
        angle = -math.pi / 2 + i * sector
        x, y = c + r1 * math.cos(angle), c + r1 * math.sin(angle)
        nodes.append(_node(child, x, y, 1))
        edges.append(Edge(c, c, x, y, child.kind))
        second = child.children[:MAX_SECOND]
        hidden += len(child.children) - len(second)
        for j, grandchild in enumerate(second):
            spread = sector * 0.8
            a2 = angle - spread / 2 + spread * (j + 0.5) / len(second)
            x2, y2 = c + r2 * math.cos(a2), c + r2 * math.sin(a2)
            nodes.append(_node(grandchild, x2, y2, 2))
            edges.append(Edge(x, y, x2, y2, grandchild.kind))
    return nodes, edges, hidden


def _node(n: Any, x: float, y: float, level: int) -> Node:
    title = n.title or n.anchor or n.url
    return Node(round(x, 1), round(y, 1), level, n.id, str(title), n.url, bool(n.archived),
                bool(n.repeated), n.kind)


@dataclass
class Bar:
    x: int
    y: int
    height: int
    day: date
    count: int


CHART_HEIGHT = 60
BAR_WIDTH = 4


def day_bars(counts: dict[date, int], *, days: int = 90, today: date) -> tuple[list[Bar], int]:
    """One bar per day of the last ``days`` days (oldest left), scaled to the busiest day."""
    peak = max(counts.values(), default=0)
    bars = []
    for i in range(days):
        day = today - timedelta(days=days - 1 - i)
        count = counts.get(day, 0)
        height = round(CHART_HEIGHT * count / peak) if peak else 0
        if count and height == 0:
            height = 1
        bars.append(Bar(i * BAR_WIDTH, CHART_HEIGHT - height, height, day, count))
    return bars, peak
