"""Media read in place from a ``.zip`` given as ``media_dir`` (no extraction to disk).

Datasets often ship their images as one archive; extracting it would double the disk use and
need a writable place. ``zipfile`` reads members directly, but it does not guard against hostile
archives, so the checks below refuse what a hostile archive uses:

- a row's name that escapes the archive (``../x``, ``/x``, ``C:/x``): nothing is ever extracted, so
  a member stored under such a name is harmless bytes, but the row asking for it is refused;
- symbolic-link members (unix mode ``S_IFLNK``) and other non-regular members: their bytes are a
  link target, never something a row meant, and no link is ever followed;
- members whose header claims more compressed bytes than the archive holds for them (entries that
  overlap, or a size raised to slip under the ratio check), and members whose compression ratio
  only a zip bomb has;
- members whose header understates their size: they are inflated a chunk at a time up to the
  declared size and then fail their CRC, so their real size is never in memory.

Open handles are cached per process: opening a large archive re-reads its central directory, which
would dominate the cost of reading one member.
"""

from __future__ import annotations

import os
import posixpath
import stat
import threading
import zipfile
import zlib

from mmtune.errors import DataError

# Members this big are checked for their compression ratio; below it even a high ratio is harmless.
_RATIO_CHECK_MIN_BYTES = 1 << 20
_CHUNK = 1 << 20  # inflate at most this much at a time
_LOCAL_HEADER = 30  # fixed part of a member's local header, before its name and extra field
# What a damaged member raises while it is inflated (zlib.error and NotImplementedError included:
# corrupt deflate data, an unknown compression method).
_READ_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    OSError,
    EOFError,
    RuntimeError,
    NotImplementedError,
    ValueError,
)
try:
    import lzma

    _READ_ERRORS += (lzma.LZMAError,)
except ImportError:  # Python built without lzma: zipfile cannot read such members either
    pass

# Per (pid, archive): the open handle, and each member's local header offset -> where its bytes must
# end (the next member's header or the central directory): a member claiming more compressed bytes
# than that overlaps another.
_handles: dict[tuple[int, str], tuple[zipfile.ZipFile, dict[int, int]]] = {}
_lock = threading.Lock()


def is_archive(path: str | None) -> bool:
    """Whether ``path`` names a zip archive used as a media folder."""
    return bool(path) and path.lower().endswith(".zip") and os.path.isfile(path)


def open_archive(path: str, max_members: int) -> zipfile.ZipFile:
    """The process's open handle on ``path`` (checked once for its member count)."""
    return _open(path, max_members)[0]


def _open(path: str, max_members: int) -> tuple[zipfile.ZipFile, dict[int, int]]:
    """The cached handle and member ends of ``path``.

    The key includes the pid because a handle inherited through ``fork`` shares its file offset
    with the parent, and interleaved reads from two processes would return garbage.
    """
    key = (os.getpid(), os.path.abspath(path))
    with _lock:
        got = _handles.get(key)
        if got is None:
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
            got = _handles[key] = (zf, _member_ends(zf))
        return got


def _member_ends(zf: zipfile.ZipFile) -> dict[int, int]:
    """Each local header offset -> the offset where that member's bytes must end."""
    starts = sorted({i.header_offset for i in zf.infolist()})
    return dict(zip(starts, [*starts[1:], zf.start_dir]))


def close_archives() -> None:
    """Close every cached handle (tests and long-lived processes that replace archives)."""
    with _lock:
        for zf, _ in _handles.values():
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
    zf, ends = _open(archive, max_members)
    where = os.path.abspath(archive)
    info = _lookup(zf, member)
    if info is None:
        raise DataError(f"{kind} {name!r} not found (looked in {where})")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise DataError(f"zip member {name!r} refused: it is a symbolic link (links in archives are never followed)")
    if info.is_dir() or stat.S_ISDIR(mode):
        raise DataError(f"{kind} {name!r} is a folder in {where}, not a file")
    if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
        raise DataError(f"zip member {name!r} refused: it is not a regular file (mode {oct(mode)})")
    _check_sizes(info, name, ends, max_ratio)
    try:
        with _lock:  # one handle per process: reads of two threads must not interleave
            return _read_bounded(zf, info)
    except _READ_ERRORS as e:
        raise DataError(f"{kind} {name!r} could not be read from {archive!r} ({type(e).__name__}: {e})") from None


def _lookup(zf: zipfile.ZipFile, member: str) -> zipfile.ZipInfo | None:
    """The entry for ``member``, or for the folder ``member/`` (a row may name a folder without the
    trailing slash its entry has)."""
    for candidate in (member, member + "/"):
        try:
            return zf.getinfo(candidate)
        except KeyError:
            continue
    return None


def _check_sizes(info: zipfile.ZipInfo, name: str, ends: dict[int, int], max_ratio: float) -> None:
    """Refuse a member whose header claims more compressed bytes than the archive holds for it (it
    overlaps the next member or the central directory, or its size was raised to lower its ratio),
    then one whose compression ratio only a zip bomb has."""
    room = ends.get(info.header_offset, 0) - info.header_offset - _LOCAL_HEADER
    if info.compress_size > room:
        raise DataError(
            f"zip member {name!r} refused: its header claims {info.compress_size:,} compressed bytes but the "
            f"archive holds at most {max(room, 0):,} for it (overlapping or corrupt entries)"
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > _RATIO_CHECK_MIN_BYTES and ratio > max_ratio:
        raise DataError(
            f"zip member {name!r} refused: compression ratio {ratio:.0f}:1 is above {max_ratio:g}:1 "
            f"({info.file_size:,} bytes unpacked; looks like a zip bomb)"
        )


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
