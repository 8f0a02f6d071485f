"""http(s) media against a loopback server: retries, timeouts, caps, redirects and the URL cache."""

from __future__ import annotations

import contextlib
import hashlib
import re
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import media_fixtures as mf
import pytest

from mmtune.conversation import MediaPart, MediaRef
from mmtune.data.fetch import fetch_url
from mmtune.data.media import MediaSettings, decode_media
from mmtune.errors import DataError


class _Server:
    """Routes on 127.0.0.1; ``hits`` counts requests per path."""

    def __init__(self, files: dict[str, tuple[bytes, str]]):
        self.files = files
        self.hits: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(
                self,
                code: int,
                body: bytes = b"",
                ctype: str = "application/octet-stream",
                length: bool = True,
                headers: dict | None = None,
            ) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                if length:
                    self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # client gave up (cap, timeout)
                    self.wfile.write(body)

            def do_GET(self):
                path = self.path
                server.hits[path] += 1
                n = server.hits[path]
                if path in server.files:
                    body, ctype = server.files[path]
                    return self._send(200, body, ctype)
                if path == "/flaky.png":  # 500 first, then the image
                    return self._send(500) if n == 1 else self._send(200, *server.files["/a.png"])
                if path == "/down":
                    return self._send(503)
                if path == "/forbidden":
                    return self._send(403)
                if path == "/slow":
                    time.sleep(1.5)
                    return self._send(200, b"late")
                if path == "/big":
                    return self._send(200, b"x" * 5000)
                if path == "/big-no-length":  # body ends when the connection closes
                    return self._send(200, b"x" * 5000, length=False)
                if path == "/moved":
                    return self._send(302, headers={"Location": "/a.png"})
                if path == "/to-file":
                    return self._send(302, headers={"Location": "file:///etc/hostname"})
                if path == "/to-ftp":
                    return self._send(301, headers={"Location": "ftp://127.0.0.1/a.png"})
                return self._send(404, b"no")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
def server(tmp_path):
    png = mf.make_png(tmp_path / "src/a.png", size=(20, 10), color=(10, 120, 240)).read_bytes()
    wav = mf.make_wav(tmp_path / "src/a.wav", seconds=0.25, sr=8000).read_bytes()
    pdf = mf.make_pdf(tmp_path / "src/d.pdf", pages=2).read_bytes()
    srv = _Server({"/a.png": (png, "image/png"), "/a.wav": (wav, "audio/wav"), "/d.pdf": (pdf, "application/pdf")})
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture
def settings(tmp_path) -> MediaSettings:
    # the test server is on 127.0.0.1: the trust boundary must be opened for it
    return MediaSettings(
        allow_private_urls=True,
        url_cache_dir=str(tmp_path / "urls"),
        url_timeout=0.5,
        url_retries=2,
        url_backoff=0.01,
        url_max_mb=0.001,
    )  # a 1,000-byte cap


@contextlib.contextmanager
def refused(reason: str):
    with pytest.raises(DataError) as e:
        yield
    assert e.value.reason == reason


def test_url_media_decode_and_are_fetched_once(server, settings, tmp_path):
    s = MediaSettings(allow_private_urls=True, url_cache_dir=settings.url_cache_dir, url_max_mb=1.0)
    img = decode_media(MediaPart("image", MediaRef(url=server.url("/a.png"))), s)
    assert img.size == (20, 10) and img.getpixel((0, 0)) == (10, 120, 240)
    audio = decode_media(MediaPart("audio", MediaRef(url=server.url("/a.wav"))), s)
    assert audio.shape == (4000,)
    # a later run (same cache folder) reads the cache: no second request
    again = MediaSettings(allow_private_urls=True, url_cache_dir=settings.url_cache_dir, url_max_mb=1.0)
    decode_media(MediaPart("image", MediaRef(url=server.url("/a.png"))), again)
    assert server.hits["/a.png"] == 1
    got = fetch_url(server.url("/a.png"), again)
    assert got.mime == "image/png" and Path(got.path).read_bytes() == Path(tmp_path / "src/a.png").read_bytes()


def test_http_errors_are_not_retried(server, settings):
    with refused(f"URL {server.url('/nothing.png')!r} returned HTTP 404"):
        fetch_url(server.url("/nothing.png"), settings)
    with refused(f"URL {server.url('/forbidden')!r} returned HTTP 403"):
        fetch_url(server.url("/forbidden"), settings)
    assert server.hits["/nothing.png"] == 1 and server.hits["/forbidden"] == 1


def test_server_errors_are_retried_with_backoff(server, settings):
    s = MediaSettings(allow_private_urls=True, url_cache_dir=settings.url_cache_dir, url_retries=2, url_backoff=0.01)
    assert decode_media(MediaPart("image", MediaRef(url=server.url("/flaky.png"))), s).size == (20, 10)
    assert server.hits["/flaky.png"] == 2
    with refused(f"URL {server.url('/down')!r} returned HTTP 503 (after 3 attempts)"):
        fetch_url(server.url("/down"), settings)
    assert server.hits["/down"] == 3


def test_slow_server_times_out(server, settings):
    s = MediaSettings(
        allow_private_urls=True, url_cache_dir=settings.url_cache_dir, url_timeout=0.3, url_retries=1, url_backoff=0.01
    )
    start = time.monotonic()
    with refused(f"URL {server.url('/slow')!r} timed out after 0.3 s (after 2 attempts)"):
        fetch_url(server.url("/slow"), s)
    assert time.monotonic() - start < 1.4 and server.hits["/slow"] == 2


def test_connection_errors_are_retried_then_named(settings):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DataError) as e:
        fetch_url(f"http://127.0.0.1:{port}/a.png", settings)
    assert re.fullmatch(
        rf"URL 'http://127.0.0.1:{port}/a.png' could not be fetched \(.*refused.*\) \(after 3 attempts\)",
        e.value.reason,
    ), e.value.reason


def test_size_cap_with_and_without_content_length(server, settings):
    for path in ("/big", "/big-no-length"):
        with refused(f"URL {server.url(path)!r} is larger than the 0.001 MB cap"):
            fetch_url(server.url(path), settings)
    assert not any(
        p.suffix == ".part" or p.is_file() and p.stat().st_size >= 5000 for p in Path(settings.url_cache_dir).rglob("*")
    )


def test_redirects_only_to_http(server, settings):
    s = MediaSettings(allow_private_urls=True, url_cache_dir=settings.url_cache_dir)
    assert decode_media(MediaPart("image", MediaRef(url=server.url("/moved"))), s).size == (20, 10)
    with refused(
        f"URL {server.url('/to-file')!r} redirects to 'file:///etc/hostname': only http(s) redirects are followed"
    ):
        fetch_url(server.url("/to-file"), settings)
    with refused(
        f"URL {server.url('/to-ftp')!r} redirects to 'ftp://127.0.0.1/a.png': only http(s) redirects are followed"
    ):
        fetch_url(server.url("/to-ftp"), settings)


@pytest.mark.parametrize("url,scheme", [("file:///etc/hostname", "file"), ("ftp://example.com/a.png", "ftp")])
def test_other_schemes_are_refused(settings, url, scheme):
    with refused(f"URL {url!r} refused: only http and https URLs are fetched (got {scheme} scheme)"):
        decode_media(MediaPart("image", MediaRef(url=url)), settings)


def test_pdf_document_from_a_url(server, settings):
    from mmtune.conversation import Conversation, Message
    from mmtune.data.documents import expand_documents

    s = MediaSettings(allow_private_urls=True, url_cache_dir=settings.url_cache_dir)
    conv = Conversation([Message("user", [MediaPart("document", MediaRef(url=server.url("/d.pdf")))])])
    expand_documents(conv, s)
    pages = [decode_media(p, s) for p in conv.media()]
    assert len(pages) == 2
    for i, page in enumerate(pages):
        assert all(abs(a - b) <= 3 for a, b in zip(page.getpixel((10, 10)), mf.page_color(i)))


def _url_row(url: str) -> dict:
    return {
        "messages": [
            {"role": "user", "content": [{"type": "image", "url": url}, {"type": "text", "text": "Color?"}]},
            {"role": "assistant", "content": "blue"},
        ]
    }


def test_prepared_rows_watch_their_url_bodies(tiny_ckpt, server, settings, tmp_path, caplog):
    """A cached URL body that vanished or changed preprocesses again; a URL that stays dead does not."""
    import dataclasses
    import json
    import logging

    from family_checks import tiny_config, write_jsonl

    from mmtune.data.fetch import cached_body
    from mmtune.preprocess.cache import prepare
    from mmtune.preprocess.settings import settings_from_config

    good, dead = server.url("/a.png"), server.url("/nothing.png")
    data = write_jsonl(tmp_path / "data.jsonl", [_url_row(good), _url_row(good), _url_row(dead)])
    cfg = tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path, allow_private_urls=True, on_bad_rows="skip")
    prep, proc = settings_from_config(cfg)
    media = dataclasses.replace(prep.media, url_cache_dir=settings.url_cache_dir, url_max_mb=1.0)

    def run() -> bool:
        # new settings each time: a new run, which does not remember the last one's failures
        return prepare(cfg, dataclasses.replace(prep, media=dataclasses.replace(media)), processor=proc).reused

    assert not run()
    body = cached_body(good, media)
    manifest = json.loads(next((tmp_path / "prepared").glob("*/media.json")).read_text())
    assert manifest == {
        good: {
            "body": str(body),
            "state": [body.stat().st_size, body.stat().st_mtime_ns, hashlib.sha256(body.read_bytes()).hexdigest()],
        },
        dead: {"body": str(cached_body(dead, media)), "state": None},
    }
    assert run()  # the dead URL is still dead: nothing changed
    assert server.hits["/a.png"] == 1 and server.hits["/nothing.png"] == 1

    body.unlink()  # the URL cache was cleared
    with caplog.at_level(logging.INFO, logger="mmtune"):
        assert not run()
    assert f"media changed since the last preprocessing ({good})" in caplog.text
    assert server.hits["/a.png"] == 2 and run()

    body.write_bytes(body.read_bytes() + b"\0")  # a body that differs from the one the rows were made from
    assert not run()
