"""Which URLs the crawler may fetch: the policy checked before every request and redirect.

:class:`UrlPolicy` answers one question, ``check(url)``: ``None`` when the URL may be fetched,
else the reason it may not. The rules:

- only ``http`` and ``https``; no userinfo (``user:pass@`` / ``a@b``), no control characters,
  no backslash or percent-escapes in the host;
- the host must be one of the *allowed domains* (a domain allows its subdomains:
  ``example.com`` allows ``www.example.com`` but not ``evil-example.com``) or an *allowed host*
  (an exact host, optionally with a port: ``127.0.0.1:8080``, ``[::1]``, ``localhost:9000``);
- an IP literal is only fetched when it is an allowed host (an IP written in the allowed
  domains counts as one); addresses in private, loopback, link-local (169.254.169.254, the
  cloud metadata service), multicast, reserved or unspecified ranges are named as such in the
  reason. IPv4 spellings that some resolvers and clients accept (``2130706433``, ``0x7f.1``,
  ``0177.0.0.1``, ``127.1``) are read as the addresses they spell, and IPv4 embedded in IPv6
  (``::ffff:127.0.0.1``, NAT64, 6to4, Teredo) as the embedded address;
- names of this machine (``localhost``, ``*.localhost``, ``localhost.localdomain``...) only
  when they are allowed hosts;
- a port other than 80 and 443 only on an allowed host (whose entry may pin the port).

``check`` opens no connection and resolves no name, on purpose: it runs on every URL the
crawler meets (links, redirects, sitemaps), so it must be fast, deterministic and testable
without a network, and a DNS look-up would itself be traffic the policy has not yet approved.
The residual risk is DNS rebinding: a public name on an allowed domain whose DNS answer points
at a private or loopback address passes this check. Closing that needs a check at connect time
(of the address actually connected to), which is outside this module.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Literal
from urllib.parse import urlsplit

ALLOWED_SCHEMES = frozenset({"http", "https"})
STANDARD_PORTS = frozenset({80, 443})
DEFAULT_PORTS = {"http": 80, "https": 443}
# Names that always mean this machine or its private network, whatever DNS says.
LOCAL_NAMES = frozenset(
    {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "localdomain"}
)
LOCAL_SUFFIXES = (".localhost", ".localdomain", ".local", ".internal", ".home.arpa")
_HOST_RE = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")
_BAD_URL_CHARS = re.compile(r"[\x00-\x20\x7f]")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _normalise_name(host: str) -> str | None:
    """A host name lower-cased, without a trailing dot, in ASCII (punycode); None if invalid."""
    host = host.strip().lower().rstrip(".")
    if not host:
        return None
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return host if _HOST_RE.match(host) else None


def _parse_ipv4_number(part: str) -> int | None:
    """One part of a (WHATWG/inet_aton style) IPv4 address: decimal, 0x-hex or 0-octal."""
    if not part:
        return None
    try:
        if part[:2] in ("0x", "0X"):
            return int(part[2:], 16) if part[2:] else 0
        if len(part) > 1 and part[0] == "0":
            return int(part[1:], 8)
        return int(part, 10) if part.isdigit() else None
    except ValueError:
        return None


def _looks_numeric(part: str) -> bool:
    return part.isdigit() or (part[:2] in ("0x", "0X") and all(
        c in "0123456789abcdefABCDEF" for c in part[2:]))


def parse_ipv4_loose(host: str) -> ipaddress.IPv4Address | None | Literal[False]:
    """Read ``host`` as an IPv4 address in any spelling clients accept.

    Returns the address; ``None`` when the host is not numeric (a name); ``False`` when its
    last label is numeric but it is no valid address (a host no one should fetch).
    """
    parts = host.split(".")
    if parts and parts[-1] == "":
        parts = parts[:-1]
    if not parts or not _looks_numeric(parts[-1]):
        return None
    if len(parts) > 4:
        return False
    numbers = [_parse_ipv4_number(p) for p in parts]
    if any(n is None for n in numbers):
        return False
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        return False
    address = values[-1]
    for i, n in enumerate(values[:-1]):
        address += n * 256 ** (3 - i)
    return ipaddress.IPv4Address(address)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_problem(ip: IPAddress) -> str | None:
    """What makes ``ip`` a non-public address ("loopback", "private"...), or None."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner = address_problem(embedded)
            if inner:
                return f"{inner} (IPv4 {embedded} inside IPv6)"
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("non-public", not ip.is_global),
    )
    for name, hit in checks:
        if hit:
            return name
    return None


def _parse_ip(host: str) -> IPAddress | None | Literal[False]:
    """``host`` (as ``urlsplit().hostname`` gives it) as an IP address, None for a name,
    False for a numeric host that is no valid address."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            return False
    return parse_ipv4_loose(host)


MAX_CACHED_VERDICTS = 4096


def _scheme_and_authority(url: str) -> str | None:
    """``scheme://authority`` of a URL (up to the first "/", "?" or "#" after it), or None
    for a URL without "://"."""
    start = url.find("://")
    if start <= 0:
        return None
    end = len(url)
    for sep in "/?#":
        i = url.find(sep, start + 3)
        if i != -1 and i < end:
            end = i
    return url[:end]


def _is_local_name(host: str) -> bool:
    return host in LOCAL_NAMES or host.endswith(LOCAL_SUFFIXES)


class UrlPolicy:
    """The crawler's URL policy: see the module's documentation for the rules.

    ``allowed_domains``: names whose hosts and subdomains may be fetched on ports 80/443.
    An entry that is an IP address or a local name (``localhost``) is taken as an allowed host.
    ``allowed_hosts``: exact hosts, ``host`` (any port) or ``host:port``, IPv6 in brackets;
    a full URL is accepted too (its host and port are used), so a start URL can be passed.
    """

    def __init__(
        self, allowed_domains: Iterable[str] = (), allowed_hosts: Iterable[str] = ()
    ) -> None:
        self.domains: set[str] = set()
        # host -> allowed ports (None: any port)
        self.hosts: dict[str, set[int] | None] = {}
        # verdicts by "scheme://authority": nothing else of a URL changes the verdict once
        # its characters passed (a crawl asks twice per request, for a few hosts)
        self._verdicts: dict[str, str | None] = {}
        for entry in allowed_domains:
            self.allow_domain(entry)
        for entry in allowed_hosts:
            self.allow_host(entry)

    def allow_domain(self, entry: str) -> None:
        """Allow a domain and its subdomains (an IP or a local name: that exact host)."""
        self._verdicts.clear()
        raw = str(entry).strip().lower()
        if not raw:
            return
        if raw.startswith("[") or ":" in raw or "/" in raw:
            self.allow_host(raw)
            return
        ip = _parse_ip(raw)
        if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address):
            self.allow_host(raw)
            return
        name = _normalise_name(raw)
        if name is None or ip is False:
            raise ValueError(f"bad allowed domain {entry!r}")
        if _is_local_name(name):
            self.allow_host(name)
        else:
            self.domains.add(name)

    def allow_host(self, entry: str) -> None:
        """Allow one exact host (``host``, ``host:port``, ``[v6]:port`` or a URL's host)."""
        self._verdicts.clear()
        raw = str(entry).strip()
        text = raw if "//" in raw else f"//{raw}"
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"bad allowed host {entry!r}: {exc}") from exc
        key = self._host_key(parts.hostname or "")
        if key is None:
            raise ValueError(f"bad allowed host {entry!r}")
        if port is None and "://" in raw:
            port = DEFAULT_PORTS.get(parts.scheme.lower())
        if port is None:
            self.hosts[key] = None
        else:
            ports = self.hosts.setdefault(key, set())
            if ports is not None:
                ports.add(port)

    @staticmethod
    def _host_key(host: str) -> str | None:
        """The comparable form of a host: an IP's canonical text or a normalised name."""
        if not host:
            return None
        ip = _parse_ip(host.lower().rstrip("."))
        if ip is False:
            return None
        if ip is not None:
            return str(ip)
        return _normalise_name(host)

    def _domain_allows(self, name: str) -> bool:
        if name in self.domains:
            return True
        labels = name.split(".")
        return any(".".join(labels[i:]) in self.domains for i in range(1, len(labels)))

    def _explicit(self, key: str, port: int) -> bool | None:
        """True if the host is allowed on this port, False if on other ports only, None if
        it is no allowed host."""
        if key not in self.hosts:
            return None
        ports = self.hosts[key]
        return ports is None or port in ports

    def _ports_text(self, key: str) -> str:
        return ", ".join(str(p) for p in sorted(self.hosts.get(key) or ()))

    def check(self, url: str) -> str | None:
        """``None`` if ``url`` may be fetched, else why not (one line). No network."""
        if not isinstance(url, str) or not url:
            return "empty URL"
        if _BAD_URL_CHARS.search(url):
            return "control character or whitespace in URL"
        head = _scheme_and_authority(url)
        if head is None:
            return self._check_parts(url)
        try:
            return self._verdicts[head]
        except KeyError:
            pass
        verdict = self._check_parts(head + "/")
        if len(self._verdicts) >= MAX_CACHED_VERDICTS:
            self._verdicts.clear()
        self._verdicts[head] = verdict
        return verdict

    def _check_parts(self, url: str) -> str | None:
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            return f"unparseable URL: {exc}"
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            return f"scheme {scheme + ':' if scheme else '(none)'} not allowed (http and https only)"
        netloc = parts.netloc
        if "@" in netloc:
            return "userinfo (user@ or user:password@) in URL"
        if "\\" in netloc or "%" in netloc:
            return "backslash or percent-escape in host"
        try:
            port = parts.port
        except ValueError:
            return "bad port"
        effective_port = port if port is not None else DEFAULT_PORTS[scheme]
        host = (parts.hostname or "").rstrip(".")
        if not host:
            return "no host"

        ip = _parse_ip(host)
        if ip is False:
            return f"numeric host {host!r} is no valid IP address"
        if ip is not None:
            key = str(ip)
            problem = address_problem(ip)
            kind = f"{problem} address" if problem else "IP address"
            if isinstance(ip, ipaddress.IPv4Address) and host != key:
                # 2130706433, 0x7f.1, 0177.0.0.1, 127.1: never fetched, whatever they spell
                return f"non-standard IP address spelling {host!r} (reads as {kind} {key})"
            explicit = self._explicit(key, effective_port)
            if explicit:
                return None
            if explicit is False:
                return (f"port {effective_port} not allowed on {kind} {key} "
                        f"(allowed: {self._ports_text(key)})")
            if problem:
                return f"{problem} address {key} not allowed"
            return f"IP address {key} is not an allowed host"

        name = _normalise_name(host)
        if name is None:
            return f"bad host name {host!r}"
        explicit = self._explicit(name, effective_port)
        if explicit:
            return None
        if explicit is False:
            return (f"port {effective_port} not allowed on host {name} "
                    f"(allowed: {self._ports_text(name)})")
        if _is_local_name(name):
            return f"local host name {name!r} not allowed"
        if not self._domain_allows(name):
            return f"host {name} is not on an allowed domain"
        if effective_port not in STANDARD_PORTS:
            return f"port {effective_port} not allowed on host {name} (only 80 and 443)"
        return None

    def allows(self, url: str) -> bool:
        return self.check(url) is None

    def __repr__(self) -> str:
        return f"UrlPolicy(domains={sorted(self.domains)}, hosts={sorted(self.hosts)})"
