"""Hostile archives given as a dataset's ``media_dir``, through the real row path (``validate``:
the same ``RowProcessor`` preprocessing runs): every trick is one bad row with its exact reason,
nothing is extracted, no link is followed and a bomb is never inflated."""

from __future__ import annotations

import io
import re
import stat
import struct
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from family_checks import tiny_config, write_jsonl
from PIL import Image
from transformers import AutoProcessor

from mmtune.data import archive
from mmtune.preprocess.validate import validate


@pytest.fixture(scope="module")
def ckpt(tiny_ckpt) -> Path:
    return tiny_ckpt("qwen2_vl")


@pytest.fixture(scope="module")
def processor(ckpt):
    return AutoProcessor.from_pretrained(ckpt)


@pytest.fixture(autouse=True)
def _fresh_archives():
    yield
    archive.close_archives()


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, "PNG")
    return buf.getvalue()


def _zip(path: Path, members: dict[str | zipfile.ZipInfo, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _special(name: str, mode: int) -> zipfile.ZipInfo:
    """An entry with a unix file type, as ``zip --symlinks`` writes a link."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def _row(name: str) -> dict:
    return {
        "messages": [
            {"role": "user", "content": [{"type": "image", "path": name}, {"type": "text", "text": "Color?"}]},
            {"role": "assistant", "content": "red"},
        ]
    }


def _problems(ckpt, processor, tmp_path: Path, media_dir: Path, names: list[str]) -> tuple[list, int]:
    """(row, reason) of every bad row, and the number of good rows, of a dataset asking for
    ``names`` with ``media_dir`` as its media folder."""
    data = write_jsonl(tmp_path / "rows.jsonl", [_row(n) for n in names])
    cfg = tiny_config(ckpt, data, tmp_path).model_dump(mode="json")
    cfg["datasets"] = [{"path": str(data), "media_dir": str(media_dir)}]
    from mmtune.config import parse_config

    report = validate(parse_config(cfg), workers=1, processor=processor)
    assert {p["dataset"] for p in report.problems} <= {str(data)}
    return [(p["row"], p["error"]) for p in report.problems], report.rows_ok


def test_names_that_escape_the_archive_are_refused(ckpt, processor, tmp_path):
    """A zip-slip archive: members stored as ``../x.png``. Nothing is extracted, so such a member is
    only bytes inside the archive; a row asking for it by that name is refused, and the clean name
    does not reach it either."""
    z = _zip(tmp_path / "m.zip", {"../x.png": _png(), "a/../../y.png": _png(), "ok.png": _png()})
    names = ["../x.png", "a/../../y.png", "..\\x.png", "C:/x.png", "x.png", "ok.png"]
    problems, ok = _problems(ckpt, processor, tmp_path, z, names)
    assert problems == [
        (0, "zip member '../x.png' refused: path escapes the archive"),
        (1, "zip member 'a/../../y.png' refused: path escapes the archive"),
        (2, "zip member '..\\\\x.png' refused: path escapes the archive"),
        (3, "zip member 'C:/x.png' refused: path escapes the archive"),
        (4, f"image 'x.png' not found (looked in {z})"),
    ]
    assert ok == 1
    assert not (tmp_path / "x.png").exists() and not (tmp_path.parent / "x.png").exists()  # nothing extracted


def test_absolute_member_names_are_never_read(ckpt, processor, tmp_path):
    """A member stored under an absolute name: a row's absolute path means the file on disk (the
    trust rules for absolute paths apply), never the archive's member, and the name without its
    slash is not that member."""
    target = tmp_path / "abs" / "x.png"
    z = _zip(tmp_path / "m.zip", {str(target): _png(), "/etc/x.png": _png()})
    rel = str(target).lstrip("/")
    problems, ok = _problems(ckpt, processor, tmp_path, z, [str(target), rel, "etc/x.png"])
    assert problems == [
        (0, f"image {str(target)!r} not found (looked in {target.parent})"),
        (1, f"image {rel!r} not found (looked in {z})"),
        (2, f"image 'etc/x.png' not found (looked in {z})"),
    ]
    assert ok == 0


def test_symlink_members_are_refused_not_followed(ckpt, processor, tmp_path):
    """``zip --symlinks`` stores a link as a member whose bytes are the target path; reading it
    must neither follow the link nor hand the target's name to the image decoder."""
    outside = tmp_path / "outside.png"
    outside.write_bytes(_png())
    members = {
        _special("abs.png", stat.S_IFLNK | 0o777): str(outside).encode(),
        _special("rel.png", stat.S_IFLNK | 0o777): b"../outside.png",
        _special("fifo.png", stat.S_IFIFO | 0o644): b"",
        _special("plain.png", stat.S_IFREG | 0o644): _png(),
    }
    z = _zip(tmp_path / "m.zip", members)
    problems, ok = _problems(ckpt, processor, tmp_path, z, ["abs.png", "rel.png", "fifo.png", "plain.png"])
    assert problems == [
        (0, "zip member 'abs.png' refused: it is a symbolic link (links in archives are never followed)"),
        (1, "zip member 'rel.png' refused: it is a symbolic link (links in archives are never followed)"),
        (2, "zip member 'fifo.png' refused: it is not a regular file (mode 0o10644)"),
    ]
    assert ok == 1


def _set_sizes(z: Path, *, file_size: int | None = None, compress_size: int | None = None) -> None:
    """Overwrite the first member's sizes in its local header and the central directory."""
    data = bytearray(z.read_bytes())
    central = data.index(b"PK\x01\x02")
    for value, local, cent in ((compress_size, 18, 20), (file_size, 22, 24)):
        if value is not None:
            struct.pack_into("<I", data, local, value)
            struct.pack_into("<I", data, central + cent, value)
    z.write_bytes(bytes(data))


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_member_that_lies_about_its_size_is_refused_in_bounded_memory(ckpt, processor, tmp_path):
    """Declares 900 KB (under the ratio check), inflates to 128 MB: inflated only to the declared
    size, then refused by its CRC."""
    z = _zip(tmp_path / "liar.zip", {"big.bmp": b"\x00" * (128 << 20)})
    _set_sizes(z, file_size=900_000)
    got: list = []
    peak = _peak(lambda: got.append(_problems(ckpt, processor, tmp_path, z, ["big.bmp"])))
    assert got == [
        ([(0, f"image 'big.bmp' could not be read from {str(z)!r} (BadZipFile: Bad CRC-32 for file 'big.bmp')")], 0)
    ]
    assert peak < 32 << 20, f"peak {peak:,} bytes for a member that declares 900 KB"


def test_a_zip_bomb_is_refused_before_it_is_inflated(ckpt, processor, tmp_path):
    """50 MB of zeros packed to ~50 KB: refused by its ratio from the header alone; the same member
    with its compressed size raised to 1 MB (ratio 50:1, under the limit) claims bytes the archive
    does not hold for it, and is refused for that before anything is inflated."""
    members = {"bomb.bmp": b"\x00" * (50 << 20), "ok.png": _png()}
    z = _zip(tmp_path / "bomb.zip", members)
    got: list = []
    peak = _peak(lambda: got.append(_problems(ckpt, processor, tmp_path, z, ["bomb.bmp", "ok.png"])))
    [(problems, ok)] = got
    assert len(problems) == 1 and ok == 1
    row, reason = problems[0]
    assert row == 0 and re.fullmatch(
        r"zip member 'bomb\.bmp' refused: compression ratio \d+:1 is above 100:1 "
        r"\(52,428,800 bytes unpacked; looks like a zip bomb\)",
        reason,
    ), reason
    assert peak < 16 << 20, f"peak {peak:,} bytes: the bomb was inflated"

    archive.close_archives()
    raised = _zip(tmp_path / "raised.zip", members)
    held = raised.read_bytes().index(b"PK\x03\x04", 4) - 30  # up to the next member's header
    _set_sizes(raised, compress_size=1 << 20)
    got.clear()
    peak = _peak(lambda: got.append(_problems(ckpt, processor, tmp_path, raised, ["bomb.bmp", "ok.png"])))
    assert got == [
        (
            [
                (
                    0,
                    f"zip member 'bomb.bmp' refused: its header claims 1,048,576 compressed bytes but the archive "
                    f"holds at most {held:,} for it (overlapping or corrupt entries)",
                )
            ],
            1,
        )
    ]
    assert peak < 16 << 20, f"peak {peak:,} bytes: the bomb was inflated"


def test_a_corrupt_archive_is_one_bad_row_per_row(ckpt, processor, tmp_path):
    not_zip = tmp_path / "junk.zip"
    not_zip.write_bytes(b"PK\x03\x04 this is not a zip archive")
    problems, ok = _problems(ckpt, processor, tmp_path, not_zip, ["a.png", "b.png"])
    opened = f"media archive {str(not_zip)!r} cannot be opened (BadZipFile: File is not a zip file)"
    assert problems == [(0, opened), (1, opened)] and ok == 0

    truncated = _zip(tmp_path / "cut.zip", {"a.png": _png()})
    truncated.write_bytes(truncated.read_bytes()[:-10])  # the end of the central directory is cut off
    problems, _ = _problems(ckpt, processor, tmp_path, truncated, ["a.png"])
    assert problems == [(0, f"media archive {str(truncated)!r} cannot be opened (BadZipFile: File is not a zip file)")]

    bmp = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(bmp, "BMP")
    damaged = _zip(tmp_path / "damaged.zip", {"a.bmp": bmp.getvalue(), "b.png": _png(), "c.png": _png()})
    data = bytearray(damaged.read_bytes())
    start = 30 + len("a.bmp")
    data[start : start + 14] = bytes(b ^ 0xFF for b in data[start : start + 14])  # a.bmp's deflate data
    second = data.index(b"PK\x03\x04", 4)
    data[second : second + 4] = b"XXXX"  # b.png's local header
    damaged.write_bytes(bytes(data))
    problems, ok = _problems(ckpt, processor, tmp_path, damaged, ["a.bmp", "b.png", "c.png"])
    assert ok == 1 and [row for row, _ in problems] == [0, 1]
    prefix = f"image 'a.bmp' could not be read from {str(damaged)!r} (error: Error -3 while decompressing data: "
    assert problems[0][1].startswith(prefix) and problems[0][1].endswith(")"), problems[0][1]
    assert problems[1][1] == (
        f"image 'b.png' could not be read from {str(damaged)!r} (BadZipFile: Bad magic number for file header)"
    )


def test_a_member_that_is_a_folder_is_refused(ckpt, processor, tmp_path):
    members = {"imgs/": b"", _special("typed", stat.S_IFDIR | 0o755): b"", "imgs/a.png": _png()}
    z = _zip(tmp_path / "m.zip", members)
    problems, ok = _problems(ckpt, processor, tmp_path, z, ["imgs", "imgs/", "typed", "imgs/a.png"])
    assert problems == [
        (0, f"image 'imgs' is a folder in {z}, not a file"),
        (1, f"image 'imgs/' is a folder in {z}, not a file"),
        (2, f"image 'typed' is a folder in {z}, not a file"),
    ]
    assert ok == 1
