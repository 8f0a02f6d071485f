"""Images -> RGB PIL images, one policy for every source (file, bytes, array, frame of a video).

Pillow does the decoding; what is written here is what it lacks: a pixel limit checked from the
header before decoding (mmtune's own, so it can be configured and worded), EXIF orientation, and
a conversion to RGB that keeps what a viewer would show for 16-bit, float and transparent images.
Video frames go through the same functions (``kind="video frame"`` words their errors).

A JPEG over the limit is not refused: libjpeg decodes at 1/2, 1/4 or 1/8 scale for free
(``Image.draft``), so a camera's 9000x9000 photo becomes one under the limit without ever being
whole in memory. Other formats have no such mode and are refused from the header.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
from PIL import Image, ImageOps
from PIL.JpegImagePlugin import JpegImageFile

from mmtune.conversation import MediaPart
from mmtune.data.media.settings import MediaSettings
from mmtune.data.media.sources import Source, is_in_memory, read_source
from mmtune.errors import DataError

_RESAMPLE = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "nearest": Image.Resampling.NEAREST,
}


def _why(e: Exception) -> str:
    """Pillow's reason without the object it was given: "cannot identify image file
    <_io.BytesIO object at 0x7f...>" would make the same bad row's reason differ on every run."""
    return re.sub(r"\s*<[^<>]* object at 0x[0-9a-f]+>", "", str(e))


@contextlib.contextmanager
def _own_pixel_limit() -> Iterator[None]:
    """Pillow's global bomb check would refuse (or only warn about) sizes by its own limit; mmtune
    checks ``max_image_pixels`` itself from the header, so Pillow's is off while opening."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def check_pixels(size: tuple[int, int], name: str, settings: MediaSettings, kind: str = "image") -> None:
    """Refuse sizes over ``max_image_pixels`` (or empty) before anything is decoded."""
    w, h = size
    if w * h > settings.max_image_pixels:
        raise DataError(
            f"{kind} {name} is {w}x{h} = {w * h:,} pixels, more than max_image_pixels "
            f"({settings.max_image_pixels:,}); refused before decoding (decompression-bomb guard)"
        )
    if w <= 0 or h <= 0:
        raise DataError(f"{kind} {name} has an empty size {w}x{h}")


def fit_size(size: tuple[int, int], budget: int) -> tuple[int, int]:
    """The largest size with the aspect ratio of ``size`` (to the pixel) and at most ``budget``
    pixels; ``size`` itself when it fits. Integer arithmetic, so the product never overshoots."""
    w, h = size
    if w * h <= budget or w <= 0 or h <= 0:
        return size
    if w < h:
        nh, nw = fit_size((h, w), budget)
        return nw, nh
    nw = min(w, max(1, math.isqrt(budget * w // h)))  # the long side first: the short one follows
    nh = max(1, nw * h // w)
    return min(nw, max(1, budget // nh)), nh


def shrink(img: Image.Image, budget: int, settings: MediaSettings) -> Image.Image:
    """``img`` scaled down (aspect kept) to at most ``budget`` pixels, with the configured filter."""
    size = fit_size(img.size, budget)
    return img if size == img.size else img.resize(size, _RESAMPLE[settings.resample])


def frame_image(img: Image.Image, budget: int, settings: MediaSettings) -> Image.Image:
    """A video frame at ``image_size`` when one is set (frames are images to the model, and a config's
    image_size is its one input resolution), else scaled down into its share ``budget`` of the video."""
    if settings.image_size is None:
        return shrink(img, budget, settings)
    size = settings.image_size
    return img if img.size == size else img.resize(size, _RESAMPLE[settings.resample])


def scale_image(img: Image.Image, factor: float, min_pixels: int, settings: MediaSettings) -> Image.Image | None:
    """``img`` with about ``factor`` times its pixels (aspect kept) but never fewer than ``min_pixels``, for
    a row over its token budget (``media_fit: shrink``); None when it cannot get smaller."""
    w, h = img.size
    if w * h <= min_pixels:
        return None
    out = shrink(img, max(min_pixels, int(w * h * factor)), settings)
    return None if out.size == img.size else out


_ORIENTATION = 0x0112  # the EXIF tag saying how a camera held the picture
_JPEG_SCALES = (1, 2, 4, 8)  # libjpeg decodes at 1/scale of the size for free


def _draft_jpeg(img: Image.Image, cap: int, budget: int | None) -> None:
    """Have a JPEG decode at the reduced scale that fits ``cap``; with a ``budget`` (video frames),
    the smallest decode still at least as large as the budget's size, which is resized after."""
    if not isinstance(img, JpegImageFile):
        return
    w, h = img.size
    scales = [k for k in _JPEG_SCALES if k <= min(w, h)]
    fits = [k for k in scales if -(-w // k) * -(-h // k) <= cap]
    if not fits:
        return  # still over the limit at 1/8: refused by the caller
    k = fits[0]
    if budget is not None:
        tw, th = fit_size((w, h), budget)
        k = max(k, *(s for s in scales if -(-w // s) >= tw and -(-h // s) >= th))
    if k > 1:
        img.draft(img.mode, (w // k, h // k))  # picks exactly 1/k for this size (see JpegImageFile.draft)


def open_image(src: Source, settings: MediaSettings, kind: str = "image", budget: int | None = None) -> Image.Image:
    """Open lazily and check the pixel count from the header; decoding happens later. A JPEG over
    ``max_image_pixels`` (or over ``budget``, a video frame's share) is set to decode reduced."""
    try:
        with _own_pixel_limit():
            img = Image.open(src.file())
    except Exception as e:  # Pillow raises many types; the user needs one clear message
        raise DataError(f"{kind} {src.name} could not be decoded ({type(e).__name__}: {_why(e)})") from None
    w, h = img.size
    if w * h > settings.max_image_pixels or (budget is not None and w * h > budget):
        with contextlib.suppress(Exception):  # a JPEG draft cannot be set: the size check decides
            _draft_jpeg(img, settings.max_image_pixels, budget)
    check_pixels(img.size, src.name, settings, kind)
    return img


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB, keeping what a viewer would show.

    ``convert("RGB")`` alone is wrong for two cases: 16/32-bit and float greyscale are clipped
    at 255 (most of a 16-bit image turns white), and alpha is dropped, showing whatever colour
    sits under transparent pixels (often black). Those are rescaled and composited on white.
    """
    if img.mode == "RGB":
        return img
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        arr = np.asarray(img, dtype=np.float64)
        top = float(arr.max()) if arr.size else 1.0
        if img.mode.startswith("I;16"):
            scale = 65535.0
        elif img.mode == "F" and top <= 1.0:
            scale = 1.0
        else:
            scale = 255.0 if top <= 255 else 65535.0 if top <= 65535 else top
        arr = np.clip(np.nan_to_num(arr) / scale * 255.0, 0, 255).round().astype(np.uint8)
        return Image.fromarray(arr).convert("RGB")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        if img.mode == "RGB":
            return img
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    return img.convert("RGB")


def finish_image(img: Image.Image, name: str, settings: MediaSettings, kind: str = "image") -> Image.Image:
    """Decode, apply EXIF orientation, convert to RGB and resize (images from every source)."""
    try:
        img.load()
        with contextlib.suppress(Exception):  # a broken EXIF block must not lose the image
            if img.getexif().get(_ORIENTATION, 1) != 1:  # exif_transpose copies even when upright
                img = ImageOps.exif_transpose(img)
        img = to_rgb(img)
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{kind} {name} could not be decoded ({type(e).__name__}: {_why(e)})") from None
    if settings.image_size is not None and kind == "image":
        img = img.resize(settings.image_size, _RESAMPLE[settings.resample])
    return img


def array_to_image(arr: Any, name: str, kind: str = "image") -> Image.Image:
    """HxW, HxWxC (or CxHxW) arrays/tensors, uint8 or float in [0, 1], -> PIL."""
    if hasattr(arr, "detach"):
        arr = arr.detach().cpu().numpy()
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4) and arr.shape[0] in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise DataError(f"{kind} {name} has shape {tuple(arr.shape)}, expected HxW or HxWxC with C in 1, 3, 4")
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.size and float(np.nanmax(arr)) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.nan_to_num(arr.astype(np.float64)), 0, 255).round().astype(np.uint8)
    return Image.fromarray(arr)


def load_image(part: MediaPart, settings: MediaSettings) -> Image.Image:
    """An RGB image; over ``max_image_pixels`` it is refused, or decoded reduced if it is a JPEG."""
    ref = part.ref
    if is_in_memory(ref):
        obj = ref.obj
        if isinstance(obj, Image.Image):
            img = obj
        elif isinstance(obj, np.ndarray) or hasattr(obj, "detach"):
            img = array_to_image(obj, ref.describe())
        else:
            raise DataError(f"image given as {type(obj).__name__}, expected a PIL image, an array or bytes")
        check_pixels(img.size, ref.describe(), settings)
        return finish_image(img, ref.describe(), settings)
    src = read_source(ref, "image", settings)
    return finish_image(open_image(src, settings), src.name, settings)
