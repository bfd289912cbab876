"""The user's search query, parsed once and rendered safely for FTS5 or PostgreSQL tsquery.

Syntax (the same on both engines):

- ``word word``: every word must occur (AND);
- ``"two words"``: a phrase (the words next to each other, in this order);
- ``kazak*``: a prefix (at least 2 letters or digits before the ``*``);
- ``a OR b``: either (binds tighter than the implicit AND: ``x a OR b`` = x AND (a OR b));
- ``-word`` / ``-"a phrase"``: must not occur (at least one positive term is needed).

Words are runs of letters and digits (any script), lowercased, as the index tokenizes
them, so the rendered query holds nothing but those tokens and the
engine's operators: it cannot fail to parse and cannot carry SQL (it is a bound parameter).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

MIN_PREFIX = 2
MAX_TERMS = 32

_BARE = re.compile(r'[^\s"]+')
_WORD = re.compile(r"[^\W_]+")


class QueryError(ValueError):
    """The search query cannot be understood (message is one line, safe to show)."""


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]  # one word, or a phrase
    prefix: bool = False  # the last word is a prefix


@dataclass
class Query:
    # AND of clauses; each clause is an OR of terms
    clauses: list[list[Term]] = field(default_factory=list)
    excluded: list[Term] = field(default_factory=list)

    def positive_terms(self) -> list[Term]:
        return [t for clause in self.clauses for t in clause]


def words_of(text: str) -> list[str]:
    """The index's tokens of ``text``: runs of letters and digits, lowercased.

    Diacritics are kept: FTS5 folds them itself (``remove_diacritics``) and PostgreSQL's
    ``simple`` configuration keeps them in the index too.
    """
    return _WORD.findall(unicodedata.normalize("NFC", text).lower())


def _lex(query: str) -> list[tuple[str, str]]:
    """(kind, text) tokens: phrase, word, or, not (a leading ``-``)."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(query):
        ch = query[pos]
        if ch.isspace():
            pos += 1
            continue
        negate = False
        if ch == "-" and pos + 1 < len(query) and not query[pos + 1].isspace():
            negate = True
            pos += 1
            ch = query[pos]
        if ch == '"':
            end = query.find('"', pos + 1)
            if end < 0:
                raise QueryError('unbalanced double quote in search query')
            text = query[pos + 1:end]
            pos = end + 1
            if pos < len(query) and query[pos] == "*":
                text += "*"
                pos += 1
            kind = "phrase"
        else:
            match = _BARE.match(query, pos)
            assert match is not None
            text = match.group(0)
            pos = match.end()
            kind = "or" if text == "OR" and not negate else "word"
        if negate:
            tokens.append(("not", ""))
        tokens.append((kind, text))
    return tokens


def _term(kind: str, text: str) -> Term | None:
    prefix = text.endswith("*")
    core = text.rstrip("*")
    if "*" in core:
        raise QueryError(f"'*' only goes at the end of a word: {text!r}")
    words = tuple(words_of(core))
    if not words:
        if prefix:
            raise QueryError(f"a prefix needs at least {MIN_PREFIX} letters before '*'")
        return None  # punctuation only: nothing to search for
    if prefix and len(words[-1]) < MIN_PREFIX:
        raise QueryError(f"a prefix needs at least {MIN_PREFIX} letters before '*': {text!r}")
    return Term(words, prefix)


def parse(query: str) -> Query:
    """Parse a user's query; raises :class:`QueryError` with a one-line message."""
    if not query or not query.strip():
        raise QueryError("empty search query")
    if "\x00" in query:
        raise QueryError("search query holds a NUL character")
    tokens = _lex(query)
    result = Query()
    pending_or = False
    negate = False
    for kind, text in tokens:
        if kind == "not":
            negate = True
            continue
        if kind == "or":
            if not result.clauses or pending_or or negate:
                raise QueryError("OR needs a term on each side")
            pending_or = True
            continue
        term = _term(kind, text)
        if term is None:  # punctuation only (e.g. "--" or ");"): nothing to search for
            negate = False
            continue
        if negate:
            if pending_or:
                raise QueryError("OR cannot join an excluded term")
            result.excluded.append(term)
            negate = False
        elif pending_or:
            result.clauses[-1].append(term)
            pending_or = False
        else:
            result.clauses.append([term])
    if pending_or:
        raise QueryError("OR needs a term on each side")
    if negate:
        raise QueryError("'-' needs a term after it")
    if not result.clauses:
        if result.excluded:
            raise QueryError("a search needs at least one term that is not excluded")
        raise QueryError("no words to search for in the query")
    if len(result.positive_terms()) + len(result.excluded) > MAX_TERMS:
        raise QueryError(f"too many terms in the search query (at most {MAX_TERMS})")
    return result


# --- SQLite FTS5 --------------------------------------------------------------------------

def _fts5_term(term: Term) -> str:
    # tokens are letters/digits only, so a double-quoted FTS5 string needs no escaping
    return '"' + " ".join(term.words) + '"' + ("*" if term.prefix else "")


def _fts5_clause(clause: list[Term]) -> str:
    if len(clause) == 1:
        return _fts5_term(clause[0])
    return "(" + " OR ".join(_fts5_term(t) for t in clause) + ")"


def to_fts5(query: Query, *, column: str | None = None, negatives: bool = True) -> str:
    """An FTS5 MATCH expression; ``column`` restricts the positive part to one column."""
    positive = " AND ".join(_fts5_clause(c) for c in query.clauses)
    if column:
        positive = f"{column} : ({positive})"
    if negatives and query.excluded:
        excluded = " OR ".join(_fts5_term(t) for t in query.excluded)
        return f"({positive}) NOT ({excluded})"
    return positive


def to_fts5_words(query: Query) -> str:
    """The positive part with phrases loosened to their words (all of them, any order).

    Used only to *score* rows already known to match the real query: BM25 of a phrase
    needs a scan of every row holding the phrase's words (to count the rows holding the
    phrase), BM25 of plain words only their doclist sizes.
    """
    def term(t: Term) -> str:
        words = [f'"{w}"' for w in t.words]
        if t.prefix:
            words[-1] += "*"
        return words[0] if len(words) == 1 else "(" + " AND ".join(words) + ")"

    clauses = []
    for clause in query.clauses:
        rendered = " OR ".join(term(t) for t in clause)
        clauses.append(f"({rendered})" if len(clause) > 1 else rendered)
    return " AND ".join(clauses)


# --- PostgreSQL tsquery -------------------------------------------------------------------

def _ts_term(term: Term) -> str:
    parts = [f"'{w}'" for w in term.words]
    if term.prefix:
        parts[-1] += ":*"
    if len(parts) == 1:
        return parts[0]
    return "(" + " <-> ".join(parts) + ")"


def to_tsquery(query: Query) -> str:
    """Text for ``to_tsquery('simple', :q)`` (lexemes are letters/digits only, quoted)."""
    clauses = []
    for clause in query.clauses:
        rendered = " | ".join(_ts_term(t) for t in clause)
        clauses.append(f"({rendered})" if len(clause) > 1 else rendered)
    text = " & ".join(clauses)
    for term in query.excluded:
        text += f" & !{_ts_term(term)}"
    return text
