"""Labelled near-duplicate pairs built from real article texts (``arsip bench dedup``).

From every ``articleBody`` of the corpus folders (``ground-truth.json``), deterministic
(seeded) pairs:

* ``edit_N`` (positive): a copy with N % of its words edited: sentences replaced by a
  sentence of another article, deleted, inserted, or a few words changed; N grows
  1, 2, 5, 10;
* ``portal`` (positive): the story as another portal of the group republishes it: a new
  headline (not part of the body), its own dateline, a rewritten lead sentence, different
  inserts ("Baca Juga" lines, a call to follow the portal) and the closing sentence changed;
* ``same_topic`` (negative): the article and the most similar *other* article of the
  corpus by shared vocabulary (the hardest negatives the corpus holds).

Bodies shorter than ``MIN_WORDS`` words are left out: for a two-paragraph text a single
changed sentence is a third of it, and nobody can say whether that is "the same story".
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

MIN_WORDS = 150
EDIT_SIZES = (0.01, 0.02, 0.05, 0.10)
SENTENCE_RE = re.compile(r"(?<=[.!?])\s+")
WORD_RE = re.compile(r"\w+")
PORTALS = ["Tribunnews.com", "Kompas.com", "Suara.com", "Grid.ID", "Okezone.com"]
STOP = frozenset(
    "the a an of to and in is that for on it with as was by at be are from this have has "
    "yang dan di ke dari ini itu dengan untuk pada dalam tidak akan juga atau oleh sebagai "
    "adalah ada karena saat".split()
)


@dataclass
class Pair:
    a: str
    b: str
    duplicate: bool
    kind: str


def load_texts(folders: list[Path]) -> list[str]:
    texts = []
    for folder in folders:
        gt = folder / "ground-truth.json"
        if not gt.is_file():
            continue
        data = json.loads(gt.read_text(encoding="utf-8"))
        for key in sorted(data):
            body = (data[key].get("articleBody") or "").strip()
            if len(WORD_RE.findall(body)) >= MIN_WORDS:
                texts.append(body)
    return texts


def _sentences(text: str) -> list[str]:
    return [s for s in SENTENCE_RE.split(" ".join(text.split())) if s]


def edit(text: str, share: float, donors: list[str], rng: random.Random) -> str:
    """``text`` with about ``share`` of its words edited in place."""
    sents = _sentences(text)
    total = sum(len(s.split()) for s in sents)
    budget = max(1, round(total * share))
    while budget > 0 and sents:
        op = rng.choice(("replace", "delete", "insert", "words", "words"))
        i = rng.randrange(len(sents))
        if op in ("replace", "delete", "insert") and len(sents[i].split()) > budget * 1.5:
            op = "words"  # a whole sentence would overshoot the edit size
        if op == "replace":
            donor = rng.choice(_sentences(rng.choice(donors)) or ["Tidak ada."])
            budget -= len(sents[i].split())
            sents[i] = donor
        elif op == "delete" and len(sents) > 3:
            budget -= len(sents[i].split())
            del sents[i]
        elif op == "insert":
            donor = rng.choice(_sentences(rng.choice(donors)) or ["Tidak ada."])
            budget -= len(donor.split())
            sents.insert(i, donor)
        else:
            words = sents[i].split()
            n = min(len(words), rng.randint(1, 3), budget)
            j = rng.randrange(max(1, len(words) - n + 1))
            words[j:j + n] = [rng.choice(("baru", "lain", "new", "other", "itu", "sangat"))
                              for _ in range(n)]
            sents[i] = " ".join(words)
            budget -= n
    return " ".join(sents)


def portal_copy(text: str, donors: list[str], rng: random.Random) -> str:
    """The story as another portal republishes it (see the module docstring)."""
    paras = [p.strip() for p in text.split("\n\n") if p.strip()] or [text]
    sents = _sentences(paras[0])
    if sents:
        words = sents[0].split()
        # a rewritten lead: about a third of its words changed, the dateline replaced
        for _ in range(max(1, len(words) // 3)):
            words[rng.randrange(len(words))] = rng.choice(("kini", "disebut", "terkait",
                                                            "menurut", "reportedly"))
        sents[0] = f"{rng.choice(PORTALS)} - " + " ".join(words)
    paras[0] = " ".join(sents)
    last = _sentences(paras[-1])
    if len(paras) > 2 and last:
        last[-1] = "Ikuti berita terkini lainnya di kanal kami."
        paras[-1] = " ".join(last)
    other = _sentences(rng.choice(donors))[:1] or ["Berita lain"]
    inserts = [f"Baca Juga: {other[0][:80]}",
               "Simak berita pilihan dan terkini kami di Google News."]
    for line in inserts:
        paras.insert(rng.randrange(1, len(paras) + 1), line)
    return "\n\n".join(paras)


def _vocab(text: str) -> set[str]:
    return {w for w in WORD_RE.findall(text.casefold()) if w not in STOP and len(w) > 2}


def build_pairs(texts: list[str], seed: int = 7) -> list[Pair]:
    rng = random.Random(seed)
    vocab = [_vocab(t) for t in texts]
    pairs: list[Pair] = []
    for i, text in enumerate(texts):
        donors = [texts[(i + k) % len(texts)] for k in (1, 2, 3)] if len(texts) > 3 else [text]
        for share in EDIT_SIZES:
            pairs.append(Pair(text, edit(text, share, donors, rng), True,
                              f"edit_{round(share * 100)}"))
        pairs.append(Pair(text, portal_copy(text, donors, rng), True, "portal"))
        best, best_j = None, -1.0
        for j, other in enumerate(vocab):
            if j == i or not other:
                continue
            inter = len(vocab[i] & other)
            jac = inter / (len(vocab[i] | other) or 1)
            if jac > best_j:
                best, best_j = j, jac
        if best is not None:
            pairs.append(Pair(text, texts[best], False, "same_topic"))
    return pairs
