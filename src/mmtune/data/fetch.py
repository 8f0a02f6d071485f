"""http(s) media, fetched once and kept in an on-disk cache keyed by URL.

The standard library's urllib is enough here (no extra dependency), but its defaults are not
safe for data read from a dataset: it opens ``file://`` and ``ftp://`` URLs, follows redirects to
ftp, reads bodies of any size and never retries. This module narrows it to http(s) (also for
redirect targets), caps the size (also when the server sends no Content-Length), retries
transient failures (5xx, connection errors, timeouts, bodies cut short) with exponential backoff
and never 4xx, and bounds each file's total time (``url_deadline``): a per-read timeout alone
never stops a server that trickles a byte every few seconds.

Only complete bodies are cached: one shorter than its Content-Length is a failed attempt. A
failure is remembered for the run (one ``MediaSettings`` record, see ``_failures``): the same URL
is not fetched again, and a host that never answered fails later URLs at once instead of costing
each of them the full retries.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlparse

from mmtune.data.media.trust import check_url
from mmtune.errors import DataError

if TYPE_CHECKING:
    from mmtune.data.media import MediaSettings

_SCHEMES = ("http", "https")
_CHUNK = 1 << 16
USER_AGENT = "mmtune (media fetch)"


@dataclass(frozen=True)
class Fetched:
    """A fetched URL: the cached file holding its body and the server's MIME type, if any."""

    path: str
    mime: str | None


def default_cache_dir() -> Path:
    return Path(os.path.expanduser("~/.cache/mmtune/urls"))


def cached_body(url: str, settings: MediaSettings) -> Path:
    """Where the body of ``url`` is (or would be) cached; the preprocessing cache watches this file."""
    root = Path(settings.url_cache_dir) if settings.url_cache_dir else default_cache_dir()
    key = hashlib.sha256(url.encode()).hexdigest()
    return root / key[:2] / key


def _check_scheme(url: str, shown: str) -> None:
    scheme = urlparse(url).scheme.lower()
    if scheme not in _SCHEMES:
        raise DataError(f"URL {shown!r} refused: only http and https URLs are fetched (got {scheme or 'no'} scheme)")


def _host(url: str) -> str:
    """``host:port`` of ``url`` (default ports filled in): what a dead server has in common."""
    parts = urlparse(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:  # a port that is no number: the fetch itself reports it
        return parts.netloc.lower()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class _Failures:
    """Failed URLs and hosts of one run, each with the reason of its (first) failure."""

    urls: dict[str, str] = field(default_factory=dict)
    hosts: dict[str, str] = field(default_factory=dict)


_RUNS: dict[int, _Failures] = {}


def _failures(settings: MediaSettings) -> _Failures:
    """The failures remembered for the run that ``settings`` belongs to.

    A run holds one ``MediaSettings`` record for its whole life (a preprocessing worker gets its
    own copy once), so the record's identity scopes the memory: a later run in the same process (a
    notebook re-running ``prepare`` after the server came back, the next test) starts afresh,
    which plain per-process memory would not. Worker processes do not share what they learnt:
    with N workers a dead host costs at most N rounds of retries, bounded and much simpler than
    a shared file that would need a run id, locking and cleaning up.
    """
    key = id(settings)
    got = _RUNS.get(key)
    if got is None:
        got = _RUNS[key] = _Failures()
        weakref.finalize(settings, _RUNS.pop, key, None)  # the id may be reused once it is gone
    return got


class _Deadline:
    """The end of one URL's time, retries included. At the deadline a timer shuts down the sockets
    opened for it: that wakes a read blocked anywhere (status line, headers, body, chunk sizes),
    which a per-read timeout cannot do against a server that sends a byte now and then."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def left(self) -> float:
        return self.end - time.monotonic()

    def passed(self) -> bool:
        return self.expired or self.left() <= 0

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._socks:
                _shut(sock)

    def cancel(self) -> None:
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    try:  # the plain socket's shutdown, also for TLS: the connection ends, whatever state TLS is in
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:  # already closed: that attempt is over anyway
        pass


class _Watched:
    """A connection that hands its socket to the deadline as soon as it is connected."""

    def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._deadline = deadline

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        self._deadline.watch(self.sock)  # type: ignore[attr-defined]


class _HTTPConnection(_Watched, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_Watched, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline):
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_HTTPConnection, deadline=self.deadline), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline):
        super().__init__()
        self.deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        conn = functools.partial(_HTTPSConnection, deadline=self.deadline)
        return self.do_open(conn, req, context=self._context)


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects only to http(s) URLs that pass the trust boundary (``media/trust.py``);
    urllib alone would also follow them to ftp, or from a public host to a private address. A
    loop is named as one at the first URL seen twice (urllib would say "HTTP 302" after four)."""

    def __init__(self, settings: MediaSettings, url: str):
        super().__init__()
        self.settings = settings
        self.url = url
        self.seen = {url}

    def http_error_302(self, req, fp, code, msg, headers):
        target = headers.get("location") or headers.get("uri")
        if target:
            new = urljoin(req.full_url, target)
            if urlparse(new).scheme.lower() not in _SCHEMES:
                raise DataError(f"URL {self.url!r} redirects to {new!r}: only http(s) redirects are followed")
            try:
                check_url(new, self.settings)
            except DataError as e:
                raise DataError(f"URL {self.url!r} redirects to {new!r}: {e.reason}") from None
            if new in self.seen:
                raise DataError(f"URL {self.url!r} redirects in a loop (back to {new!r})")
            if len(self.seen) > self.max_redirections:
                raise DataError(f"URL {self.url!r} redirects more than {self.max_redirections} times")
            self.seen.add(new)
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


class _Short(Exception):
    """A body that ended before its Content-Length: the connection was lost midway."""


def _cap_bytes(settings: MediaSettings) -> int:
    return int(settings.url_max_mb * 1_000_000)


def _attempts(n: int) -> str:
    return f"{n} attempt{'s' if n > 1 else ''}"


def _too_big(url: str, settings: MediaSettings) -> DataError:
    return DataError(f"URL {url!r} is larger than the {settings.url_max_mb:g} MB cap")


class _Fetch:
    """One URL's attempts under one deadline. ``unreachable`` is set when it failed without any
    attempt getting an HTTP response: the host is then remembered as failed for the run."""

    def __init__(self, url: str, settings: MediaSettings):
        self.url, self.settings = url, settings
        self.answered = self.unreachable = False

    def run(self, dest: Path) -> str | None:
        """Download into ``dest`` (complete, or raise ``DataError``); returns the MIME type."""
        s, url = self.settings, self.url
        attempts = 1 + max(s.url_retries, 0)
        deadline = _Deadline(s.url_deadline)
        last = ""
        try:
            for attempt in range(attempts):
                if attempt:
                    pause = s.url_backoff * 2 ** (attempt - 1)
                    if deadline.passed():
                        raise self._cut_off(last)
                    if pause >= deadline.left():
                        self.unreachable = not self.answered
                        raise DataError(
                            f"URL {url!r} {last} (after {_attempts(attempt)}; "
                            f"url_deadline ({s.url_deadline:g} s) left no time for another)"
                        )
                    time.sleep(pause)
                try:
                    return self._attempt(dest, deadline)
                except DataError:
                    raise
                except Exception as e:
                    if deadline.passed():
                        raise self._cut_off(last) from None
                    last = self._failure(e)
            self.unreachable = not self.answered
            raise DataError(f"URL {url!r} {last} (after {_attempts(attempts)})")
        finally:
            deadline.cancel()

    def _cut_off(self, last: str) -> DataError:
        self.unreachable = not self.answered
        earlier = f"; an earlier attempt {last}" if last else ""
        return DataError(
            f"URL {self.url!r} took longer than url_deadline ({self.settings.url_deadline:g} s, retries included) "
            f"and was cut off{earlier}"
        )

    def _failure(self, e: Exception) -> str:
        """What one failed attempt says (after "URL '...'"); raises for those not worth retrying."""
        if isinstance(e, urllib.error.HTTPError):
            if e.code < 500:
                raise DataError(f"URL {self.url!r} returned HTTP {e.code}") from None
            return f"returned HTTP {e.code}"
        timeout = f"timed out after {self.settings.url_timeout:g} s"
        if isinstance(e, urllib.error.URLError):
            return timeout if isinstance(e.reason, TimeoutError) else f"could not be fetched ({e.reason})"
        if isinstance(e, TimeoutError):
            return timeout
        if isinstance(e, _Short):
            return str(e)
        if isinstance(e, http.client.IncompleteRead):
            return "sent an incomplete body before the connection closed"
        if isinstance(e, ConnectionError | http.client.HTTPException | OSError):
            return f"could not be fetched ({type(e).__name__}: {e})"
        raise e

    def _attempt(self, dest: Path, deadline: _Deadline) -> str | None:
        s, url = self.settings, self.url
        cap = _cap_bytes(s)
        redirects = _CheckedRedirects(s, url)
        opener = urllib.request.build_opener(redirects, _HTTPHandler(deadline), _HTTPSHandler(deadline))
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        try:  # the deadline knows a socket only once it is connected: it bounds the connect too
            resp = opener.open(req, timeout=max(min(s.url_timeout, deadline.left()), 0.001))
        except urllib.error.HTTPError:
            self.answered = True
            raise
        finally:
            self.answered |= len(redirects.seen) > 1  # it redirected: the host answered
        self.answered = True
        with resp:
            header = resp.headers.get("Content-Length")
            length = int(header) if header and header.isdigit() and not resp.chunked else None
            if length is not None and length > cap:
                raise _too_big(url, s)
            got = 0
            with open(dest, "wb") as f:
                while block := resp.read(_CHUNK):
                    got += len(block)
                    if got > cap:  # no or wrong Content-Length: stop as soon as the cap is passed
                        raise _too_big(url, s)
                    f.write(block)
            if length is None and deadline.passed():  # then the end of a body cut off looks like its end
                raise TimeoutError
            if length is not None and got < length:
                raise _Short(f"sent {got} of {length} bytes before the connection closed")
            return resp.headers.get_content_type() if resp.headers.get("Content-Type") else None


def fetch_url(url: str, settings: MediaSettings) -> Fetched:
    """The cached body of ``url``, downloading it first if no run has fetched it before."""
    _check_scheme(url, url)
    check_url(url, settings)  # also for a body cached earlier: the boundary may have changed since
    body = cached_body(url, settings)
    meta = body.with_name(f"{body.name}.json")
    if body.is_file() and meta.is_file():
        if body.stat().st_size > _cap_bytes(settings):
            raise _too_big(url, settings)
        return Fetched(str(body), json.loads(meta.read_text()).get("mime"))
    failed = _failures(settings)
    if url in failed.urls:
        raise DataError(failed.urls[url])
    host = _host(url)
    if host in failed.hosts:
        raise DataError(f"URL {url!r} not fetched: host {host} failed earlier in this run ({failed.hosts[host]})")
    body.parent.mkdir(parents=True, exist_ok=True)
    # Unique temp names: several worker processes may fetch the same URL at once.
    tmp = body.with_name(f"{body.name}.{os.getpid()}.part")
    fetch = _Fetch(url, settings)
    try:
        mime = fetch.run(tmp)
        meta_tmp = meta.with_name(f"{body.name}.{os.getpid()}.json.part")
        meta_tmp.write_text(json.dumps({"url": url, "mime": mime}))
        os.replace(tmp, body)
        os.replace(meta_tmp, meta)
        return Fetched(str(body), mime)
    except DataError as e:
        failed.urls[url] = e.reason
        if fetch.unreachable:
            failed.hosts.setdefault(host, e.reason)
        raise
    finally:
        tmp.unlink(missing_ok=True)
