"""Scoring extracted articles against ground truth (the corpora in ``../shared/corpus``).

Body metric: the one of scrapinghub/article-extraction-benchmark, re-implemented from its
description: tokens are Unicode ``\\w+`` runs, shingles are runs of 4 consecutive tokens (a text
of 1-3 tokens gives one shingle), per page TP/FP/FN are the multiset overlap/extra/missing
shingles normalised by their sum; P = mean page precision over pages with non-empty output,
R = mean page recall, F1 = harmonic mean of P and R; accuracy = share of pages whose token
sequence equals the truth. Metadata: title exact match after case/space/quote normalisation,
date on the same calendar day, author token-set F1; each only on pages whose truth has it.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

_TOKEN_RE = re.compile(r"\w+")
_QUOTES = str.maketrans({c: '"' for c in "'`´‘’‚‛′“”„‟″«»"})
_AUTHOR_JOINERS = {"dan", "and"}


def tokenize(text: str | None) -> list[str]:
    return _TOKEN_RE.findall(text or "")


def shingles(text: str | None, n: int = 4) -> Counter[str]:
    tokens = tokenize(text)
    if not tokens:
        return Counter()
    return Counter(" ".join(tokens[i:i + n]) for i in range(max(1, len(tokens) - n + 1)))


def page_scores(truth: str, predicted: str | None) -> tuple[float, float, float]:
    """Normalised (TP, FP, FN) of one page."""
    t, p = shingles(truth), shingles(predicted)
    tp = fp = fn = 0
    for key in t.keys() | p.keys():
        tc, pc = t.get(key, 0), p.get(key, 0)
        tp += min(tc, pc)
        fp += max(0, pc - tc)
        fn += max(0, tc - pc)
    total = tp + fp + fn
    if total == 0:
        return 0.0, 0.0, 0.0
    return tp / total, fp / total, fn / total


def normalise_title(title: str | None) -> str:
    return " ".join((title or "").translate(_QUOTES).casefold().split())


def title_match(truth: str, predicted: str | None) -> bool:
    return normalise_title(truth) == normalise_title(predicted)


def date_match(truth: str, predicted: str | None) -> bool:
    """Same calendar day: the YYYY-MM-DD parts (each in its own stated offset) are equal."""
    return bool(predicted) and str(predicted)[:10] == truth[:10]


def _author_tokens(value: str | Iterable[str] | None) -> set[str]:
    if value is None:
        return set()
    text = value if isinstance(value, str) else " ".join(value)
    return {t for t in (w.casefold() for w in tokenize(text)) if t not in _AUTHOR_JOINERS}


def author_f1(truth: str, predicted: str | Iterable[str] | None) -> float:
    t, p = _author_tokens(truth), _author_tokens(predicted)
    if not t or not p:
        return 1.0 if t == p else 0.0
    common = len(t & p)
    if not common:
        return 0.0
    precision, recall = common / len(p), common / len(t)
    return 2 * precision * recall / (precision + recall)


@dataclass
class Scores:
    """Accumulates page results; read the figures with :meth:`summary`."""

    precisions: list[float] = field(default_factory=list)
    recalls: list[float] = field(default_factory=list)
    exact: list[bool] = field(default_factory=list)
    empty: int = 0
    titles: list[bool] = field(default_factory=list)
    dates: list[bool] = field(default_factory=list)
    authors: list[float] = field(default_factory=list)
    seconds: float = 0.0
    per_page: dict[str, dict[str, float | bool]] = field(default_factory=dict)

    def add(self, page_id: str, truth: dict, body: str | None, *, title: str | None = None,
            date: str | None = None, authors: str | Iterable[str] | None = None) -> None:
        tp, fp, fn = page_scores(truth.get("articleBody", ""), body)
        row: dict[str, float | bool] = {}
        if tp + fp > 0:
            self.precisions.append(tp / (tp + fp))
            row["precision"] = tp / (tp + fp)
        else:
            self.empty += 1
        if tp + fn > 0:
            self.recalls.append(tp / (tp + fn))
            row["recall"] = tp / (tp + fn)
        self.exact.append(tokenize(truth.get("articleBody", "")) == tokenize(body))
        if truth.get("title"):
            row["title"] = title_match(truth["title"], title)
            self.titles.append(bool(row["title"]))
        if truth.get("date"):
            row["date"] = date_match(truth["date"], date)
            self.dates.append(bool(row["date"]))
        if truth.get("author"):
            row["author"] = author_f1(truth["author"], authors)
            self.authors.append(float(row["author"]))
        self.per_page[page_id] = row

    def summary(self) -> dict[str, float | int | None]:
        def mean(values: list) -> float | None:
            return sum(values) / len(values) if values else None

        p, r = mean(self.precisions) or 0.0, mean(self.recalls) or 0.0
        pages = len(self.exact)
        return {
            "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "precision": p,
            "recall": r,
            "accuracy": mean(self.exact) or 0.0,
            "empty": self.empty,
            "title": mean(self.titles),
            "date": mean(self.dates),
            "author": mean(self.authors),
            "pages_per_s": pages / self.seconds if self.seconds > 0 else None,
        }


@dataclass
class CorpusPage:
    id: str
    html: bytes
    truth: dict


def load_corpus(folder: str | Path) -> Iterator[CorpusPage]:
    """The pages of a corpus folder (``ground-truth.json`` + ``<id>.html.gz``), sorted by id."""
    folder = Path(folder)
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    for page_id in sorted(truth):
        path = folder / f"{page_id}.html.gz"
        if path.exists():
            yield CorpusPage(page_id, gzip.decompress(path.read_bytes()), truth[page_id])
