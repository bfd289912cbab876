"""Dates of a page as ISO 8601 with a UTC offset (Indonesian zones WIB/WITA/WIT known)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from functools import lru_cache

ZONES = {"wib": 7, "wita": 8, "wit": 9}
WIB = timezone(timedelta(hours=7))

_ZONE_RE = re.compile(r"\b(WIB|WITA|WIT)\b", re.I)
# a candidate for a visible date: only finds it, dateparser reads it (Indonesian or English)
_MONTH = r"(?:jan|feb|mar|apr|mei|may|jun|jul|agu|agt|aug|sep|okt|oct|nov|des|dec)[a-z]*\.?"
_DAY = (r"(?:senin|selasa|rabu|kamis|jum'?at|sabtu|minggu|ahad|monday|tuesday|wednesday"
        r"|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri|sat|sun)\.?")
DATE_FRAGMENT_RE = re.compile(
    rf"(?:\b{_DAY}\s*,?\s*)?"
    rf"(?:\b\d{{1,2}}\s+{_MONTH},?\s+(?:19|20)\d\d|\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:19|20)\d\d"
    r"|\b\d{1,2}/\d{1,2}/(?:19|20)\d\d)\b"
    r"(?P<time>\s*(?:[,|\-–]|\bat\b|\bpukul\b|\bjam\b)?\s*\d{1,2}[:.]\d{2}(?:[:.]\d{2})?"
    r"\s*(?:am|pm|a\.m\.|p\.m\.)?(?:\s*(?:WIB|WITA|WIT)\b)?)?",
    re.I,
)


def is_date_line(line: str) -> bool:
    """A short line that is a date (plus a little: "| 998 Views")."""
    if len(line) > 90:
        return False
    m = DATE_FRAGMENT_RE.search(line)
    return m is not None and len(line) - len(m.group(0)) <= 25


_RFC2822 = re.compile(r"^(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d\d:\d\d")
# 05/11/2015 10:08 (WIB): day first, as Indonesian pages write it
_NUMERIC = re.compile(
    r"^(?:[^\W\d_]+'?[^\W\d_]*\s*,?\s*)?(?P<d>\d{1,2})[/.-](?P<m>\d{1,2})[/.-](?P<y>(?:19|20)\d\d)"
    r"(?:[\s,|-]+(?P<H>\d{1,2})[:.](?P<M>\d\d)(?:[:.](?P<S>\d\d))?)?\s*(?:WIB|WITA|WIT)?\s*$", re.I)
_ISO_LIKE = re.compile(r"^\d{4}[-/]\d\d[-/]\d\d")


def _iso(dt: datetime, default_tz: timezone | None) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=default_tz or UTC)
    dt = dt.replace(microsecond=0)
    return dt.isoformat()


def parse_date(value: str | None, *, default_tz: timezone | None = None,
               languages: tuple[str, ...] = ("id", "en")) -> str | None:
    """ISO 8601 with an offset, or None. ``default_tz`` applies to a value without one."""
    if not value:
        return None
    text = " ".join(str(value).split())
    if not text or len(text) > 120:
        return None
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    iso = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", iso)  # +0700 -> +07:00
    if _ISO_LIKE.match(iso):
        try:
            dt = datetime.fromisoformat(iso.replace("/", "-"))
            if 1990 <= dt.year <= 2100:
                return _iso(dt, default_tz)
        except ValueError:
            pass
    if _RFC2822.match(text):
        try:
            dt = parsedate_to_datetime(text)
            if 1990 <= dt.year <= 2100:
                return _iso(dt, default_tz)
        except (TypeError, ValueError, IndexError):
            pass
    m = _NUMERIC.match(text)
    if m:
        try:
            day, month, year = int(m["d"]), int(m["m"]), int(m["y"])
            dt = datetime(year, month, day, int(m["H"] or 0), int(m["M"] or 0), int(m["S"] or 0))
            zone = _ZONE_RE.search(text)
            tz = timezone(timedelta(hours=ZONES[zone.group(1).lower()])) if zone else default_tz
            return _iso(dt, tz)
        except ValueError:
            pass
    zone = _ZONE_RE.search(text)
    tz = default_tz
    if zone:
        tz = timezone(timedelta(hours=ZONES[zone.group(1).lower()]))
        text = _ZONE_RE.sub(" ", text)
    text = text.replace("|", " ").replace(" - ", " ")
    text = re.sub(rf"^\s*{_DAY}\s*,?\s*", "", text, flags=re.I)  # "Jum'at," confuses it
    text = re.sub(r"\bpukul\b", " ", text, flags=re.I)
    parsed = _dateparser(text, languages)
    if parsed is None or not 1990 <= parsed.year <= 2100:
        return None
    return _iso(parsed, tz)


@lru_cache(maxsize=4)
def _parser(languages: tuple[str, ...]):  # type: ignore[no-untyped-def]
    """One DateDataParser per process: ``dateparser.parse(languages=...)`` builds a new one
    (locales, regexes) on every call, which costs tens of milliseconds."""
    from dateparser.date import DateDataParser

    return DateDataParser(
        languages=list(languages),
        settings={"DATE_ORDER": "DMY", "PARSERS": ["absolute-time"],
                  "REQUIRE_PARTS": ["day", "month", "year"]},
    )


@lru_cache(maxsize=4096)
def _dateparser(text: str, languages: tuple[str, ...]) -> datetime | None:
    """dateparser (it knows Indonesian month and day names)."""
    try:
        return _parser(languages).get_date_data(text).date_obj
    except Exception:  # noqa: BLE001 - a library hiccup on odd input is no date
        return None


def find_date_in_tree(tree, url: str | None) -> str | None:  # type: ignore[no-untyped-def]
    """htmldate's guess (original publication date), day precision, as the last resort."""
    try:
        from htmldate import find_date

        found = find_date(tree, url=url, original_date=True, extensive_search=False,
                          outputformat="%Y-%m-%d")
    except Exception:  # noqa: BLE001
        return None
    return found or None
