"""Small real media files for tests: every function writes one file and returns its path.

Plain functions (not fixtures) so any test module can import them and write into ``tmp_path``.
Content is deterministic and chosen so tests can check decoding, not just that it ran: images
are filled with a known colour (or split in two colours to check orientation), audio is a sine
at a known frequency, and frame ``i`` of a video is grey level ``frame_level(i)``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

RGB = tuple[int, int, int]


def _prep(path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def solid(size: tuple[int, int] = (32, 24), color: RGB = (200, 30, 30), mode: str = "RGB") -> Image.Image:
    """A one-colour image (``size`` is width, height); mode P keeps the exact colour."""
    img = Image.new("RGB", size, color)
    return img.convert("P", palette=Image.Palette.ADAPTIVE) if mode == "P" else img.convert(mode)


def two_tone(size: tuple[int, int] = (40, 20), left: RGB = (255, 0, 0), right: RGB = (0, 0, 255)) -> Image.Image:
    """Left half one colour, right half another: rotations and flips become visible."""
    img = Image.new("RGB", size, right)
    img.paste(left, (0, 0, size[0] // 2, size[1]))
    return img


def make_image(
    path: str | Path, size: tuple[int, int] = (32, 24), color: RGB = (200, 30, 30), mode: str = "RGB", **save: object
) -> Path:
    """Any still format Pillow writes, chosen by the file extension."""
    p = _prep(path)
    solid(size, color, mode).save(p, **save)
    return p


def make_png(path: str | Path, size: tuple[int, int] = (32, 24), color: RGB = (200, 30, 30), mode: str = "RGB") -> Path:
    return make_image(path, size, color, mode)


def make_jpeg(
    path: str | Path, size: tuple[int, int] = (32, 24), color: RGB = (200, 30, 30), mode: str = "RGB"
) -> Path:
    return make_image(path, size, color, mode, quality=95)


def make_webp(path: str | Path, size: tuple[int, int] = (32, 24), color: RGB = (200, 30, 30)) -> Path:
    return make_image(path, size, color, lossless=True)


def make_bmp(path: str | Path, size: tuple[int, int] = (32, 24), color: RGB = (200, 30, 30)) -> Path:
    return make_image(path, size, color)


def make_tiff(
    path: str | Path, size: tuple[int, int] = (32, 24), color: RGB = (200, 30, 30), mode: str = "RGB"
) -> Path:
    return make_image(path, size, color, mode)


def make_png16(path: str | Path, size: tuple[int, int] = (16, 8), level: int = 32768) -> Path:
    """A 16-bit greyscale PNG (mode I;16) at ``level`` of 65535."""
    p = _prep(path)
    Image.fromarray(np.full((size[1], size[0]), level, dtype=np.uint16)).save(p)
    return p


def make_rgba_png(path: str | Path, size: tuple[int, int] = (16, 16), color: RGB = (0, 0, 0), alpha: int = 0) -> Path:
    """An RGBA PNG of one colour at one opacity (alpha 0: fully transparent)."""
    p = _prep(path)
    Image.new("RGBA", size, (*color, alpha)).save(p)
    return p


def make_jpeg_exif(path: str | Path, size: tuple[int, int] = (40, 20), orientation: int = 6) -> Path:
    """A two-tone JPEG (red left, blue right as stored) whose EXIF says how to rotate it."""
    p = _prep(path)
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation tag
    two_tone(size).save(p, quality=95, exif=exif.tobytes())
    return p


def frame_level(i: int) -> int:
    """Grey level of frame ``i`` in generated videos and GIFs (far apart so codecs keep them)."""
    return (i * 37) % 200 + 20


def make_gif(path: str | Path, frames: int = 6, size: tuple[int, int] = (24, 16), duration_ms: int = 100) -> Path:
    """An animated GIF; frame ``i`` is grey ``frame_level(i)``."""
    p = _prep(path)
    imgs = [solid(size, (frame_level(i),) * 3) for i in range(frames)]
    imgs[0].save(p, save_all=True, append_images=imgs[1:], duration=duration_ms, loop=0)
    return p


def sine(seconds: float = 0.5, sr: int = 16_000, freq: float = 440.0, channels: int = 1) -> np.ndarray:
    """float32 samples, shape [n] for mono or [n, channels]."""
    t = np.arange(int(seconds * sr)) / sr
    y = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return y if channels == 1 else np.stack([y] * channels, axis=1)


def make_audio(
    path: str | Path, seconds: float = 0.5, sr: int = 16_000, freq: float = 440.0, channels: int = 1, **write: object
) -> Path:
    """wav / flac / ogg / mp3 by extension (libsndfile writes them all)."""
    import soundfile as sf

    p = _prep(path)
    sf.write(p, sine(seconds, sr, freq, channels), sr, **write)
    return p


def make_wav(path: str | Path, seconds: float = 0.5, sr: int = 16_000, freq: float = 440.0, channels: int = 1) -> Path:
    return make_audio(path, seconds, sr, freq, channels)


def make_flac(path: str | Path, seconds: float = 0.5, sr: int = 16_000, freq: float = 440.0, channels: int = 1) -> Path:
    return make_audio(path, seconds, sr, freq, channels)


def make_ogg(path: str | Path, seconds: float = 0.5, sr: int = 16_000, freq: float = 440.0, channels: int = 1) -> Path:
    return make_audio(path, seconds, sr, freq, channels, format="OGG", subtype="VORBIS")


def make_mp3(path: str | Path, seconds: float = 0.5, sr: int = 16_000, freq: float = 440.0, channels: int = 1) -> Path:
    return make_audio(path, seconds, sr, freq, channels, format="MP3", subtype="MPEG_LAYER_III")


def make_video(
    path: str | Path, frames: int = 8, fps: int = 4, size: tuple[int, int] = (32, 24), codec: str | None = None
) -> Path:
    """mp4 (mpeg4) or webm (vp8) by extension; frame ``i`` is grey ``frame_level(i)``."""
    import av

    p = _prep(path)
    codec = codec or ("libvpx" if p.suffix == ".webm" else "mpeg4")
    with av.open(str(p), "w") as out:
        st = out.add_stream(codec, rate=fps)
        st.width, st.height, st.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(frames):
            arr = np.full((size[1], size[0], 3), frame_level(i), dtype=np.uint8)
            for packet in st.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(packet)
        for packet in st.encode():
            out.mux(packet)
    return p


def make_mp4(path: str | Path, frames: int = 8, fps: int = 4, size: tuple[int, int] = (32, 24)) -> Path:
    return make_video(path, frames, fps, size)


def make_webm(path: str | Path, frames: int = 8, fps: int = 4, size: tuple[int, int] = (32, 24)) -> Path:
    return make_video(path, frames, fps, size)


def make_mpeg(path: str | Path, frames: int = 8, fps: int = 25, size: tuple[int, int] = (32, 24)) -> Path:
    """An MPEG-1 program stream (.mpg / .mpeg); MPEG-1 only takes broadcast rates such as 25."""
    return make_video(path, frames, fps, size, codec="mpeg1video")


def page_color(i: int) -> RGB:
    """Colour of page ``i`` (0-based) in generated PDFs."""
    return [(220, 40, 40), (40, 160, 40), (40, 40, 220), (200, 200, 40)][i % 4]


def make_pdf(path: str | Path, pages: int = 3, size: tuple[int, int] = (144, 72)) -> Path:
    """A PDF whose page ``i`` is filled with ``page_color(i)``; ``size`` in points (1/72 inch)."""
    p = _prep(path)
    imgs = [solid(size, page_color(i)) for i in range(pages)]
    imgs[0].save(p, "PDF", save_all=True, append_images=imgs[1:], resolution=72.0)
    return p


def make_txt(path: str | Path, text: str = "The quick brown fox.\n") -> Path:
    p = _prep(path)
    p.write_text(text, encoding="utf-8")
    return p


def make_zip(path: str | Path, members: dict[str, bytes | str | Path], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """A zip with the given members: bytes, text, or the content of an existing file."""
    p = _prep(path)
    with zipfile.ZipFile(p, "w", compression) as zf:
        for name, content in members.items():
            data = content.read_bytes() if isinstance(content, Path) else content
            zf.writestr(name, data.encode() if isinstance(data, str) else data)
    return p


def make_images(
    folder: str | Path, n: int, size: tuple[int, int] = (64, 48), exts: Sequence[str] = (".jpg", ".png")
) -> list[Path]:
    """``n`` images of alternating formats and varying colours (for benchmarks and batches)."""
    out = []
    for i in range(n):
        ext = exts[i % len(exts)]
        color = ((i * 53) % 256, (i * 97) % 256, (i * 151) % 256)
        out.append(make_image(Path(folder) / f"img_{i:05d}{ext}", size, color))
    return out
