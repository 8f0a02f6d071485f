"""Hostile URL servers on loopback: loops, trickles, huge and cut-short bodies, dead hosts.

Every test names the exact reason a user reads, and keeps its clock small (timeouts and deadlines
of a second or less), so the whole suite runs in a few seconds.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from family_checks import tiny_config, write_jsonl
from PIL import Image

from mmtune.data import fetch
from mmtune.data.fetch import fetch_url
from mmtune.data.media import MediaSettings
from mmtune.errors import DataError

TRICKLE_EVERY = 0.1  # seconds between two bytes of a trickling server


def _png() -> bytes:
    import io

    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, format="PNG")
    return out.getvalue()


PNG = _png()


class _Handler(BaseHTTPRequestHandler):
    """Routes of a hostile server; ``self.server.hits`` counts requests per path."""

    def log_message(self, *args):  # keep test output clean
        pass

    def _head(self, code: int, headers: dict[str, str]) -> None:
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except OSError:  # the client gave up (cap, deadline): expected
            return False

    def do_GET(self):
        self.server.hits[self.path] += 1
        route, _, arg = self.path.partition("?")
        other = self.server.other_base
        if route == "/a.png":
            self._head(200, {"Content-Type": "image/png", "Content-Length": str(len(PNG))})
            self._write(PNG)
        elif route == "/loop":
            self._head(302, {"Location": "/loop", "Content-Length": "0"})
        elif route in ("/loop-a", "/loop-b"):
            self._head(302, {"Location": "/loop-b" if route == "/loop-a" else "/loop-a", "Content-Length": "0"})
        elif route == "/chain":
            self._head(302, {"Location": f"/chain?{int(arg) + 1}", "Content-Length": "0"})
        elif route == "/to-other-port":
            self._head(302, {"Location": f"{other}/a.png", "Content-Length": "0"})
        elif route == "/trickle":  # a valid promise of 1000 bytes, kept one byte at a time
            self._head(200, {"Content-Length": "1000"})
            while self._write(b"x"):
                time.sleep(TRICKLE_EVERY)
        elif route == "/trickle-headers":  # the status line, then a header that never ends
            self._write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
            while self._write(b"x"):
                time.sleep(TRICKLE_EVERY)
        elif route == "/slow":  # answers after url_timeout, every time
            time.sleep(0.4)
            self._head(200, {"Content-Length": "2"})
            self._write(b"ok")
        elif route == "/huge":  # announces 1 GB; reading it would hang on the held connection
            self._head(200, {"Content-Length": str(10**9)})
            self._write(b"x" * 1000)
            time.sleep(3)
        elif route == "/huge-no-length":  # no Content-Length: the body ends when the connection does
            self._head(200, {})
            while self._write(b"x" * 65536):
                pass
        elif route == "/truncated":
            self._head(200, {"Content-Length": "1000"})
            self._write(b"x" * 100)
            self.close_connection = True
        elif route == "/truncated-chunked":
            self._head(200, {"Transfer-Encoding": "chunked"})
            self._write(b"64\r\n" + b"x" * 100 + b"\r\n")  # one 100-byte chunk, then no last chunk
            self.close_connection = True
        elif route == "/down":
            self._head(503, {"Content-Length": "0"})
        else:
            self._head(404, {"Content-Length": "0"})


class _Server:
    def __init__(self, other_base: str = ""):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.hits = Counter()
        self.httpd.other_base = other_base
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def hits(self) -> Counter:
        return self.httpd.hits

    def url(self, path: str) -> str:
        return self.base + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def servers() -> Iterator[tuple[_Server, _Server]]:
    """A hostile server and a second one on another port (a redirect target)."""
    other = _Server()
    main = _Server(other.base)
    yield main, other
    main.close()
    other.close()


@pytest.fixture
def server(servers) -> _Server:
    return servers[0]


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A loopback port that refuses connections (bound, never listening: nobody else can take it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def settings(tmp_path) -> Callable[..., MediaSettings]:
    """Fast settings for loopback servers; each call is a new run (failures are remembered per run)."""

    def make(**kw) -> MediaSettings:
        base = dict(
            allow_private_urls=True,
            url_cache_dir=str(tmp_path / "urls"),
            url_timeout=0.5,
            url_retries=1,
            url_backoff=0.01,
            url_deadline=1.0,
            url_max_mb=0.1,
        )
        return MediaSettings(**{**base, **kw})

    return make


@contextlib.contextmanager
def refused(reason: str, within: float = 5.0) -> Iterator[None]:
    """The block raises a DataError with exactly ``reason``, in less than ``within`` seconds."""
    start = time.monotonic()
    with pytest.raises(DataError) as e:
        yield
    took = time.monotonic() - start
    assert e.value.reason == reason
    assert took < within, f"took {took:.2f} s"


def _cached_files(s: MediaSettings) -> list[Path]:
    return [p for p in Path(s.url_cache_dir).rglob("*") if p.is_file()] if Path(s.url_cache_dir).exists() else []


def test_a_redirect_loop_says_so(server, settings):
    s = settings()
    u = server.url("/loop")
    with refused(f"URL {u!r} redirects in a loop (back to {u!r})"):
        fetch_url(u, s)
    assert server.hits["/loop"] == 1  # named at the first URL seen twice, not retried
    a = server.url("/loop-a")
    with refused(f"URL {a!r} redirects in a loop (back to {a!r})"):
        fetch_url(a, s)
    assert server.hits["/loop-a"] == 1 and server.hits["/loop-b"] == 1
    start = server.url("/chain?0")
    with refused(f"URL {start!r} redirects more than 10 times"):
        fetch_url(start, s)
    assert sum(n for p, n in server.hits.items() if p.startswith("/chain")) == 11


def test_redirect_to_another_port_only_when_private_urls_are_allowed(servers, settings, monkeypatch):
    main, other = servers
    got = fetch_url(main.url("/to-other-port"), settings())
    assert Path(got.path).read_bytes() == PNG and other.hits["/a.png"] == 1

    # Now the first server stands in for a public host; its redirect target is checked for real.
    real = fetch.check_url

    def check(url: str, s: MediaSettings, shown: str | None = None) -> None:
        if not url.startswith(main.base):
            real(url, s, shown)

    monkeypatch.setattr(fetch, "check_url", check)
    s = settings(allow_private_urls=False, url_cache_dir=str(Path(settings().url_cache_dir) / "strict"))
    u, target = main.url("/to-other-port"), other.url("/a.png")
    with refused(
        f"URL {u!r} redirects to {target!r}: URL {target!r} refused: 127.0.0.1 resolves to a non-public address "
        "(127.0.0.1); set `allow_private_urls: true` to fetch from this machine or a private network"
    ):
        fetch_url(u, s)
    assert other.hits["/a.png"] == 1  # no second request reached it


def test_a_trickle_is_cut_at_the_deadline(server, settings):
    # every byte comes well within url_timeout (9 of them per timeout): only the deadline stops it
    s = settings(url_timeout=0.9, url_deadline=1.0, url_retries=3)
    u = server.url("/trickle")
    start = time.monotonic()
    with refused(f"URL {u!r} took longer than url_deadline (1 s, retries included) and was cut off"):
        fetch_url(u, s)
    elapsed = time.monotonic() - start
    assert 1.0 <= elapsed < 1.0 + 0.5, elapsed
    assert server.hits["/trickle"] == 1 and _cached_files(s) == []


def test_trickled_headers_are_cut_at_the_deadline_too(server, settings):
    s = settings(url_timeout=0.7, url_deadline=0.8)
    u = server.url("/trickle-headers")
    start = time.monotonic()
    with refused(f"URL {u!r} took longer than url_deadline (0.8 s, retries included) and was cut off"):
        fetch_url(u, s)
    assert time.monotonic() - start < 0.8 + 0.5


def test_the_deadline_counts_retries(server, settings):
    s = settings(url_timeout=0.3, url_deadline=1.0, url_retries=10, url_backoff=0)  # no pause to stop early
    u = server.url("/slow")
    start = time.monotonic()
    with refused(
        f"URL {u!r} took longer than url_deadline (1 s, retries included) and was cut off; "
        "an earlier attempt timed out after 0.3 s"
    ):
        fetch_url(u, s)
    assert time.monotonic() - start < 1.0 + 0.5
    assert 2 <= server.hits["/slow"] <= 4


def test_backoff_past_the_deadline_stops_early(server, settings):
    s = settings(url_retries=3, url_backoff=2.0, url_deadline=1.0)
    u = server.url("/down")
    with refused(f"URL {u!r} returned HTTP 503 (after 1 attempt; url_deadline (1 s) left no time for another)", 0.5):
        fetch_url(u, s)


def test_huge_body_with_content_length_is_refused_before_reading(server, settings):
    s = settings()
    u = server.url("/huge")
    with refused(f"URL {u!r} is larger than the 0.1 MB cap", within=0.4):  # the server holds on for 3 s
        fetch_url(u, s)
    assert _cached_files(s) == []


def test_huge_body_without_content_length_is_cut_at_the_cap(server, settings):
    s = settings()
    u = server.url("/huge-no-length")
    with refused(f"URL {u!r} is larger than the 0.1 MB cap", within=0.5):
        fetch_url(u, s)
    assert _cached_files(s) == []


def test_a_truncated_body_is_retried_and_never_cached(server, settings):
    s = settings(url_retries=1)
    u = server.url("/truncated")
    with refused(f"URL {u!r} sent 100 of 1000 bytes before the connection closed (after 2 attempts)"):
        fetch_url(u, s)
    assert server.hits["/truncated"] == 2
    assert _cached_files(s) == []
    c = server.url("/truncated-chunked")
    with refused(f"URL {c!r} sent an incomplete body before the connection closed (after 2 attempts)"):
        fetch_url(c, s)
    assert server.hits["/truncated-chunked"] == 2
    assert _cached_files(s) == []


def test_private_addresses_are_refused_without_allow_private_urls(server, settings):
    u = server.url("/a.png")
    with refused(
        f"URL {u!r} refused: 127.0.0.1 resolves to a non-public address (127.0.0.1); "
        "set `allow_private_urls: true` to fetch from this machine or a private network"
    ):
        fetch_url(u, settings(allow_private_urls=False))
    assert server.hits["/a.png"] == 0


def test_a_dead_host_fails_fast_for_its_next_urls(dead_port, settings):
    s = settings(url_retries=1, url_backoff=0.5)
    first, second = f"http://127.0.0.1:{dead_port}/a.png", f"http://127.0.0.1:{dead_port}/b.png"
    reason = f"URL {first!r} could not be fetched ([Errno 111] Connection refused) (after 2 attempts)"
    start = time.monotonic()
    with refused(reason):
        fetch_url(first, s)
    assert time.monotonic() - start >= 0.5  # a backoff: it really tried twice
    with refused(
        f"URL {second!r} not fetched: host 127.0.0.1:{dead_port} failed earlier in this run ({reason})", within=0.25
    ):
        fetch_url(second, s)
    with refused(reason, within=0.25):  # the same URL again: its own first failure
        fetch_url(first, s)
    start = time.monotonic()
    with refused(reason):  # a new run (new settings) tries again
        fetch_url(first, settings(url_retries=1, url_backoff=0.5))
    assert time.monotonic() - start >= 0.5


def test_a_failed_url_is_not_fetched_again_but_its_host_still_is(server, settings):
    s = settings(url_retries=2)
    down, missing = server.url("/down"), server.url("/missing.png")
    for _ in range(2):
        with refused(f"URL {down!r} returned HTTP 503 (after 3 attempts)"):
            fetch_url(down, s)
        with refused(f"URL {missing!r} returned HTTP 404"):
            fetch_url(missing, s)
    assert server.hits["/down"] == 3 and server.hits["/missing.png"] == 1
    assert Path(fetch_url(server.url("/a.png"), s).path).read_bytes() == PNG  # the host answered: not blamed


def test_upper_case_scheme_is_fetched(server, settings):
    u = f"HTTP://127.0.0.1:{server.port}/a.png"
    assert Path(fetch_url(u, settings()).path).read_bytes() == PNG


# Through real rows: `mmtune validate` names the dataset, the row and the media item.


def _row(url: str) -> dict:
    return {
        "messages": [
            {"role": "user", "content": [{"type": "image", "url": url}, {"type": "text", "text": "Color?"}]},
            {"role": "assistant", "content": "red"},
        ]
    }


@pytest.fixture
def url_cache(tmp_path, monkeypatch) -> Path:
    """The URL cache of runs built from a config (no config key moves it)."""
    root = tmp_path / "url-cache"
    monkeypatch.setattr(fetch, "default_cache_dir", lambda: root)
    return root


def test_validate_names_dataset_row_and_reason(tiny_ckpt, server, dead_port, url_cache, tmp_path):
    from mmtune.preprocess.validate import validate

    dead_a, dead_b = f"http://127.0.0.1:{dead_port}/a.png", f"http://127.0.0.1:{dead_port}/b.png"
    urls = [server.url("/a.png"), server.url("/missing.png"), dead_a, dead_b, server.url("/truncated")]
    data = write_jsonl(tmp_path / "data.jsonl", [_row(u) for u in urls])
    cfg = tiny_config(
        tiny_ckpt("qwen2_vl"), data, tmp_path, allow_private_urls=True, url_timeout=0.5, url_retries=0, url_deadline=2
    )
    report = validate(cfg, workers=1)
    dead = f"URL {dead_a!r} could not be fetched ([Errno 111] Connection refused) (after 1 attempt)"
    assert report.problems == [
        {"dataset": str(data), "row": 1, "field": "image[0]", "error": f"URL {urls[1]!r} returned HTTP 404"},
        {"dataset": str(data), "row": 2, "field": "image[0]", "error": dead},
        {
            "dataset": str(data),
            "row": 3,
            "field": "image[0]",
            "error": f"URL {dead_b!r} not fetched: host 127.0.0.1:{dead_port} failed earlier in this run ({dead})",
        },
        {
            "dataset": str(data),
            "row": 4,
            "field": "image[0]",
            "error": f"URL {urls[4]!r} sent 100 of 1000 bytes before the connection closed (after 1 attempt)",
        },
    ]
    assert report.rows_ok == 1
    assert [p.name for p in url_cache.rglob("*") if p.is_file() and not p.name.endswith(".json")] == [
        fetch.cached_body(urls[0], MediaSettings(url_cache_dir=str(url_cache))).name
    ]


def test_upper_case_scheme_in_a_row(tiny_ckpt, server, url_cache, tmp_path):
    from mmtune.preprocess.validate import validate

    data = write_jsonl(tmp_path / "data.jsonl", [_row(f"HTTP://127.0.0.1:{server.port}/a.png")])
    cfg = tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path, allow_private_urls=True)
    report = validate(cfg, workers=1)
    assert report.problems == [] and report.rows_ok == 1
