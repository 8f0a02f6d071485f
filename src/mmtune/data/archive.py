"""Media read in place from a ``.zip`` given as ``media_dir`` (no extraction to disk).

Datasets often ship their images as one archive; extracting it would double the disk use and
need a writable place. ``zipfile`` reads members directly, but it does not guard against hostile
archives, so the checks below refuse member names that escape the archive and members whose
compression ratio only a zip bomb has. Open handles are cached per process: opening a large
archive re-reads its central directory, which would dominate the cost of reading one member.
"""

from __future__ import annotations

import os
import posixpath
import threading
import zipfile

from mmtune.errors import DataError

# Members this big are checked for their compression ratio; below it even a high ratio is harmless.
_RATIO_CHECK_MIN_BYTES = 1 << 20
_CHUNK = 1 << 20  # inflate at most this much at a time

_handles: dict[tuple[int, str], zipfile.ZipFile] = {}
_lock = threading.Lock()


def is_archive(path: str | None) -> bool:
    """Whether ``path`` names a zip archive used as a media folder."""
    return bool(path) and path.lower().endswith(".zip") and os.path.isfile(path)


def open_archive(path: str, max_members: int) -> zipfile.ZipFile:
    """The process's open handle on ``path`` (checked once for its member count).

    The key includes the pid because a handle inherited through ``fork`` shares its file offset
    with the parent, and interleaved reads from two processes would return garbage.
    """
    key = (os.getpid(), os.path.abspath(path))
    with _lock:
        zf = _handles.get(key)
        if zf is None:
            try:
                zf = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as e:
                raise DataError(f"media archive {path!r} cannot be opened ({type(e).__name__}: {e})") from None
            n = len(zf.infolist())
            if n > max_members:
                zf.close()
                raise DataError(
                    f"media archive {path!r} refused: it has {n:,} members, more than the limit of {max_members:,}"
                )
            _handles[key] = zf
        return zf


def close_archives() -> None:
    """Close every cached handle (tests and long-lived processes that replace archives)."""
    with _lock:
        for zf in _handles.values():
            zf.close()
        _handles.clear()


def member_name(name: str) -> str:
    """The archive member a relative media name refers to, or a DataError if it escapes."""
    clean = name.replace("\\", "/")
    parts = clean.split("/")
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":") or ".." in parts:
        raise DataError(f"zip member {name!r} refused: path escapes the archive")
    return posixpath.normpath(clean)


def read_member(archive: str, name: str, kind: str, max_members: int, max_ratio: float) -> bytes:
    """Bytes of member ``name`` of ``archive``; ``kind`` (image, audio...) words the errors."""
    member = member_name(name)
    zf = open_archive(archive, max_members)
    try:
        info = zf.getinfo(member)
    except KeyError:
        raise DataError(f"{kind} {name!r} not found (looked in {os.path.abspath(archive)})") from None
    if info.is_dir():
        raise DataError(f"{kind} {name!r} is a folder in {os.path.abspath(archive)}, not a file")
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > _RATIO_CHECK_MIN_BYTES and ratio > max_ratio:
        raise DataError(
            f"zip member {name!r} refused: compression ratio {ratio:.0f}:1 is above {max_ratio:g}:1 "
            f"({info.file_size:,} bytes unpacked; looks like a zip bomb)"
        )
    try:
        with _lock:  # one handle per process: reads of two threads must not interleave
            return _read_bounded(zf, info)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as e:
        raise DataError(f"{kind} {name!r} could not be read from {archive!r} ({type(e).__name__}: {e})") from None


def _read_bounded(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The member's bytes, inflated a chunk at a time. ``ZipFile.read`` inflates all compressed data
    in one call before cutting it to the declared size, so a member whose header understates its
    size (under the ratio check's threshold) could take gigabytes; here memory stays within the
    declared size plus one chunk, and a lying member fails its CRC check."""
    chunks: list[bytes] = []
    with zf.open(info) as f:
        while block := f.read(_CHUNK):
            chunks.append(block)
    return b"".join(chunks)
