"""MediaRef -> decoded media. (Minimal image-only version; the data issue widens it.)"""

from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass

from PIL import Image, ImageOps

from mmtune.conversation import MediaPart
from mmtune.errors import DataError


@dataclass
class VideoClip:
    """A decoded video: RGB frames plus where they sit in the source, for processors that
    need timestamps (``video_metadata``: fps, frame indices, duration)."""

    frames: list[Image.Image]
    fps: float
    indices: list[int]
    total_frames: int

    @property
    def duration(self) -> float:
        return self.total_frames / self.fps if self.fps else 0.0


@dataclass(frozen=True)
class MediaSettings:
    """Decode-time settings, recorded in the run card so inference reproduces them."""

    image_size: tuple[int, int] | None = None
    resample: str = "bilinear"
    max_image_pixels: int = 89_478_485
    # Audio is resampled to the processor's rate (filled from the processor's feature extractor).
    sampling_rate: int = 16_000


_RESAMPLE = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "nearest": Image.Resampling.NEAREST,
}


def _image_from_bytes(data: bytes, what: str) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as e:  # PIL raises many types; the user needs one clear message
        raise DataError(f"image {what} could not be decoded ({type(e).__name__}: {e})") from None
    return img


def load_image(part: MediaPart, settings: MediaSettings) -> Image.Image:
    ref = part.ref
    if ref.obj is not None:
        if isinstance(ref.obj, Image.Image):
            img = ref.obj
        elif isinstance(ref.obj, bytes | bytearray):
            img = _image_from_bytes(bytes(ref.obj), "bytes")
        else:
            raise DataError(f"image given as {type(ref.obj).__name__}, expected a PIL image or bytes")
    elif ref.path is not None:
        base = ref.base_dir or "."
        full = ref.path if os.path.isabs(ref.path) else os.path.join(base, ref.path)
        if not os.path.isfile(full):
            raise DataError(f"image {ref.path!r} not found (looked in {os.path.abspath(base)})")
        with open(full, "rb") as f:
            img = _image_from_bytes(f.read(), repr(ref.path))
    elif ref.base64 is not None or ref.data_uri is not None:
        payload = ref.base64 if ref.base64 is not None else ref.data_uri.split(",", 1)[-1]
        try:
            raw = base64.b64decode(payload, validate=False)
        except Exception:
            raise DataError(f"image {ref.describe()} is not valid base64") from None
        img = _image_from_bytes(raw, ref.describe())
    else:
        raise DataError(f"image {ref.describe()} cannot be loaded yet")
    img = ImageOps.exif_transpose(img)
    if img.mode != "RGB":
        img = img.convert("RGB")
    if settings.image_size is not None:
        img = img.resize(settings.image_size, _RESAMPLE[settings.resample])
    return img


def decode_media(part: MediaPart, settings: MediaSettings) -> object:
    """Decode one media part into what processors take (PIL image, array, frames)."""
    if part.type == "image":
        return load_image(part, settings)
    raise DataError(f"{part.type} media are not supported yet")
