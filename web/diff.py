"""A word-level diff of two texts as escaped HTML (<del>/<ins> around changed words)."""

from __future__ import annotations

import difflib
import re

from markupsafe import Markup, escape

MAX_WORDS = 20_000
_TOKEN = re.compile(r"\S+|\n")


def words(text: str) -> list[str]:
    return _TOKEN.findall(text)[:MAX_WORDS]


def word_diff(old: str, new: str) -> tuple[Markup, int, int]:
    """(HTML of ``new`` with removed words in <del> and added words in <ins>, words removed,
    words added). Each word is escaped before it is wrapped."""
    a, b = words(old), words(new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    out: list[str] = []
    removed = added = 0

    def join(tokens: list[str]) -> str:
        return " ".join(str(escape(t)) if t != "\n" else "<br>" for t in tokens)

    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.append(join(b[j1:j2]))
            continue
        if i2 > i1:
            removed += sum(1 for t in a[i1:i2] if t != "\n")
            out.append(f"<del>{join(a[i1:i2])}</del>")
        if j2 > j1:
            added += sum(1 for t in b[j1:j2] if t != "\n")
            out.append(f"<ins>{join(b[j1:j2])}</ins>")
    return Markup(" ".join(out)), removed, added
