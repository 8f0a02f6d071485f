"""http(s) media, fetched once and kept in an on-disk cache keyed by URL.

The standard library's urllib is enough here (no extra dependency), but its defaults are not
safe for data read from a dataset: it opens ``file://`` and ``ftp://`` URLs, follows redirects to
ftp, reads bodies of any size and never retries. This module narrows it to http(s) (also for
redirect targets), caps the size (also when the server sends no Content-Length), retries
transient failures (5xx, connection errors, timeouts) with exponential backoff and never 4xx.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
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


def _check_scheme(url: str, shown: str) -> None:
    scheme = urlparse(url).scheme.lower()
    if scheme not in _SCHEMES:
        raise DataError(f"URL {shown!r} refused: only http and https URLs are fetched (got {scheme or 'no'} scheme)")


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects only to http(s) URLs that pass the trust boundary (``media/trust.py``);
    urllib alone would also follow them to ftp, or from a public host to a private address."""

    def __init__(self, settings: MediaSettings):
        super().__init__()
        self.settings = settings

    def http_error_302(self, req, fp, code, msg, headers):
        target = headers.get("location") or headers.get("uri")
        if target:
            new = urljoin(req.full_url, target)
            if urlparse(new).scheme.lower() not in _SCHEMES:
                raise DataError(f"URL {req.full_url!r} redirects to {new!r}: only http(s) redirects are followed")
            try:
                check_url(new, self.settings)
            except DataError as e:
                raise DataError(f"URL {req.full_url!r} redirects to {new!r}: {e.reason}") from None
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _opener(settings: MediaSettings) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_CheckedRedirects(settings))


def _cap_bytes(settings: MediaSettings) -> int:
    return int(settings.url_max_mb * 1_000_000)


def _download(url: str, settings: MediaSettings, dest: Path) -> str | None:
    """One attempt: stream the body into ``dest``; returns the MIME type."""
    cap = _cap_bytes(settings)
    too_big = DataError(f"URL {url!r} is larger than the {settings.url_max_mb:g} MB cap")
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with _opener(settings).open(req, timeout=settings.url_timeout) as resp:
        length = resp.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > cap:
            raise too_big
        got = 0
        with open(dest, "wb") as f:
            while block := resp.read(_CHUNK):
                got += len(block)
                if got > cap:  # no or wrong Content-Length: stop as soon as the cap is passed
                    raise too_big
                f.write(block)
        ctype = resp.headers.get_content_type() if resp.headers.get("Content-Type") else None
    return ctype


def fetch_url(url: str, settings: MediaSettings) -> Fetched:
    """The cached body of ``url``, downloading it first if no run has fetched it before."""
    _check_scheme(url, url)
    check_url(url, settings)  # also for a body cached earlier: the boundary may have changed since
    root = Path(settings.url_cache_dir) if settings.url_cache_dir else default_cache_dir()
    key = hashlib.sha256(url.encode()).hexdigest()
    body, meta = root / key[:2] / key, root / key[:2] / f"{key}.json"
    if body.is_file() and meta.is_file():
        if body.stat().st_size > _cap_bytes(settings):
            raise DataError(f"URL {url!r} is larger than the {settings.url_max_mb:g} MB cap")
        return Fetched(str(body), json.loads(meta.read_text()).get("mime"))
    body.parent.mkdir(parents=True, exist_ok=True)
    # Unique temp names: several worker processes may fetch the same URL at once.
    tmp = body.with_name(f"{key}.{os.getpid()}.part")
    attempts = 1 + max(settings.url_retries, 0)
    last = ""
    try:
        for attempt in range(attempts):
            if attempt:
                time.sleep(settings.url_backoff * 2 ** (attempt - 1))
            try:
                mime = _download(url, settings, tmp)
            except urllib.error.HTTPError as e:
                if e.code < 500:
                    raise DataError(f"URL {url!r} returned HTTP {e.code}") from None
                last = f"returned HTTP {e.code}"
            except urllib.error.URLError as e:
                if isinstance(e.reason, TimeoutError):
                    last = f"timed out after {settings.url_timeout:g} s"
                else:
                    last = f"could not be fetched ({e.reason})"
            except TimeoutError:
                last = f"timed out after {settings.url_timeout:g} s"
            except (ConnectionError, http.client.HTTPException, OSError) as e:
                last = f"could not be fetched ({type(e).__name__}: {e})"
            else:
                meta_tmp = meta.with_name(f"{key}.{os.getpid()}.json.part")
                meta_tmp.write_text(json.dumps({"url": url, "mime": mime}))
                os.replace(tmp, body)
                os.replace(meta_tmp, meta)
                return Fetched(str(body), mime)
        raise DataError(f"URL {url!r} {last} (after {attempts} attempt{'s' if attempts > 1 else ''})")
    finally:
        tmp.unlink(missing_ok=True)
