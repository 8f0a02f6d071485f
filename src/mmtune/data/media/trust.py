"""The media trust boundary: which files and URLs a dataset row may pull into training data.

A row is data, often from someone else. Without a rule it could read any file on the machine (a
``document`` part with ``path: /home/me/.ssh/id_rsa`` becomes supervised text) or make this machine
fetch from its own network (cloud metadata services at 169.254.169.254, an admin page on
localhost). The rule, enforced here and nowhere else:

- a relative name resolves inside the dataset's folder or ``media_dir`` and may not leave it
  (``../``, or a symlink pointing outside);
- an absolute path is allowed (datasets list media that way), unless ``media_roots`` is set: then
  it must lie under one of those folders;
- a URL's host must resolve only to public addresses, checked again on every redirect, unless
  ``allow_private_urls`` is set (a dataset served from this machine or an intranet).

Every refusal is a ``DataError`` naming the item; the row is reported like any other bad row.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from urllib.parse import urlparse

from mmtune.data.media.settings import MediaSettings
from mmtune.errors import DataError


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_path(name: str, full: str, base: str, kind: str, settings: MediaSettings) -> None:
    """``name`` as written in the row, ``full`` the file it resolved to under ``base``."""
    if not os.path.isabs(name):
        if not _inside(full, base):
            raise DataError(f"{kind} {name!r} refused: a relative media name must stay inside {os.path.realpath(base)}")
        return
    if settings.media_roots and not any(_inside(full, root) for root in settings.media_roots):
        roots = ", ".join(settings.media_roots)
        raise DataError(f"{kind} {name!r} refused: absolute media paths must lie under media_roots ({roots})")


def _private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return not ip.is_global or ip.is_multicast


def check_url(url: str, settings: MediaSettings, shown: str | None = None) -> None:
    """Refuse a URL whose host resolves to a loopback, private, link-local, multicast or reserved
    address (every address the name resolves to is checked)."""
    if settings.allow_private_urls:
        return
    host = urlparse(url).hostname
    shown = shown or url
    if not host:
        raise DataError(f"URL {shown!r} has no host")
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError) as e:
        raise DataError(f"URL {shown!r}: host {host!r} could not be resolved ({e})") from None
    bad = sorted({i[4][0] for i in infos if _private(i[4][0])})
    if bad:
        raise DataError(
            f"URL {shown!r} refused: {host} resolves to a non-public address ({', '.join(bad)}); "
            "set `allow_private_urls: true` to fetch from this machine or a private network"
        )
