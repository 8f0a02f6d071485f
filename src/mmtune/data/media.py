"""MediaRef -> decoded media: RGB PIL images, mono float32 audio, ``VideoClip`` s.

Sources: a file (relative names resolved against ``ref.base_dir``, a folder or a ``.zip``), an
http(s) URL (fetched once, cached on disk), base64, a data URI, raw bytes, or an in-memory object
(PIL image, audio array, list/array/tensor of frames). Every failure is a ``DataError`` whose
reason names the media (``ref.describe()``) and the cause, never a bare library traceback.

Libraries do the decoding (Pillow, soundfile with PyAV as fallback, PyAV for video, librosa for
resampling); what is written here is what they lack: one policy for colour modes and alpha, a
pixel limit checked from the header before decoding, and frame sampling by time.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

import numpy as np
from PIL import Image, ImageOps

from mmtune.conversation import MediaPart, MediaRef
from mmtune.data import archive
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
    # Images with more pixels are refused before decoding (decompression-bomb guard).
    max_image_pixels: int = 89_478_485
    # Audio is resampled to the processor's rate (filled from the processor's feature extractor).
    sampling_rate: int = 16_000
    # Video frames are sampled evenly at this rate, and never more than ``video_max_frames``.
    video_fps: float = 2.0
    video_max_frames: int = 16
    # PDF documents: the first ``pdf_max_pages`` pages, rendered at ``pdf_dpi``.
    pdf_max_pages: int = 8
    pdf_dpi: int = 72
    # URLs: per-attempt timeout (s), retries on 5xx / connection errors, first backoff (s),
    # size cap (MB = 1,000,000 bytes), and the cache folder (default ~/.cache/mmtune/urls).
    url_timeout: float = 30.0
    url_retries: int = 3
    url_backoff: float = 0.5
    url_max_mb: float = 20.0
    url_cache_dir: str | None = None
    # Zip media_dir: archives with more members, or big members packed tighter, are refused.
    zip_max_members: int = 1_000_000
    zip_max_ratio: float = 100.0


_RESAMPLE = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "nearest": Image.Resampling.NEAREST,
}

# MIME types that say which kind of media a data URI / URL holds.
_MIME_KINDS = {
    "image/jpg": "image", "application/pdf": "pdf", "text/plain": "text", "audio/mp3": "audio",
}
_EXT_KINDS = {
    **dict.fromkeys((".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"), "image"),
    **dict.fromkeys((".wav", ".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac"), "audio"),
    **dict.fromkeys((".mp4", ".webm", ".mov", ".mkv", ".avi", ".m4v"), "video"),
    ".pdf": "pdf", ".txt": "text",
}


def kind_of_mime(mime: str | None) -> str | None:
    """'image' / 'audio' / 'video' / 'pdf' / 'text' for a MIME type, or None when it says nothing."""
    if not mime:
        return None
    mime = mime.split(";")[0].strip().lower()
    if mime in _MIME_KINDS:
        return _MIME_KINDS[mime]
    major = mime.split("/")[0]
    return major if major in ("image", "audio", "video") else None


def data_uri_mime(uri: str) -> str | None:
    head = uri[5:].split(",", 1)[0] if uri.startswith("data:") else ""
    return head.split(";")[0].strip().lower() or None


def guess_kind(ref: MediaRef) -> str | None:
    """What a reference holds, from its MIME type (data URI, ``ref.mime``) or file extension.

    Input formats whose media column does not say the kind can use this to pick the part type.
    """
    mime = ref.mime or (data_uri_mime(ref.data_uri) if ref.data_uri else None)
    if kind_of_mime(mime):
        return kind_of_mime(mime)
    name = ref.path or (ref.url.split("?")[0] if ref.url else "")
    return _EXT_KINDS.get(os.path.splitext(name)[1].lower()) if name else None


# -- sources --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where the bytes of one media item are: a file path, or the bytes themselves."""

    data: str | bytes
    name: str
    mime: str | None = None

    def file(self) -> str | io.BytesIO:
        """Something Pillow, soundfile and PyAV all open."""
        return self.data if isinstance(self.data, str) else io.BytesIO(self.data)

    def head(self, n: int = 16) -> bytes:
        if isinstance(self.data, bytes):
            return self.data[:n]
        with open(self.data, "rb") as f:
            return f.read(n)

    def read(self) -> bytes:
        if isinstance(self.data, bytes):
            return self.data
        with open(self.data, "rb") as f:
            return f.read()


def _decode_base64(payload: str, kind: str, name: str) -> bytes:
    try:
        return base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        raise DataError(f"{kind} {name} is not valid base64") from None


def _from_path(path: str, base_dir: str | None, kind: str, settings: MediaSettings) -> Source:
    if not os.path.isabs(path) and archive.is_archive(base_dir):
        data = archive.read_member(base_dir, path, kind, settings.zip_max_members, settings.zip_max_ratio)
        return Source(data, repr(path))
    base = base_dir or "."
    full = path if os.path.isabs(path) else os.path.join(base, path)
    if not os.path.isfile(full):
        where = os.path.dirname(os.path.abspath(full)) if os.path.isabs(path) else os.path.abspath(base)
        raise DataError(f"{kind} {path!r} not found (looked in {where})")
    return Source(full, repr(path))


def read_source(ref: MediaRef, kind: str, settings: MediaSettings) -> Source:
    """Locate the bytes of ``ref`` (not for in-memory decoded objects); ``kind`` words errors."""
    name = ref.describe()
    if ref.path is not None:
        src = _from_path(ref.path, ref.base_dir, kind, settings)
    elif ref.url is not None:
        if ref.url.startswith("data:"):
            return read_source(MediaRef(data_uri=ref.url, mime=ref.mime), kind, settings)
        from mmtune.data.fetch import fetch_url

        got = fetch_url(ref.url, settings)
        src = Source(got.path, name, got.mime)
    elif ref.data_uri is not None:
        head, sep, payload = ref.data_uri.partition(",")
        if not ref.data_uri.startswith("data:") or not sep:
            raise DataError(f"{kind} {name} is not a valid data URI (expected 'data:<mime>;base64,<data>')")
        if head.endswith(";base64"):
            data = _decode_base64(payload, kind, name)
        else:
            data = unquote_to_bytes(payload)
        src = Source(data, name, data_uri_mime(ref.data_uri))
    elif ref.base64 is not None:
        if ref.base64.startswith("data:"):
            return read_source(MediaRef(data_uri=ref.base64, mime=ref.mime), kind, settings)
        src = Source(_decode_base64(ref.base64, kind, name), name)
    elif isinstance(ref.obj, bytes | bytearray | memoryview):
        src = Source(bytes(ref.obj), name)
    elif isinstance(ref.obj, dict) and (ref.obj.get("bytes") or ref.obj.get("path")):
        # An HF Image/Audio feature stored undecoded.
        if ref.obj.get("bytes"):
            src = Source(bytes(ref.obj["bytes"]), name)
        else:
            src = _from_path(ref.obj["path"], ref.base_dir, kind, settings)
    else:
        raise DataError(f"{kind} {name} has no data (no path, URL, base64 or object)")
    mime = ref.mime or src.mime
    if ref.mime or (src.mime and ref.url is None):  # servers' Content-Type is too often wrong
        _check_mime(kind, mime, name)
    return Source(src.data, src.name, mime)


def _check_mime(kind: str, mime: str | None, name: str) -> None:
    """A data URI that says it is audio cannot be read as an image, and so on."""
    got = kind_of_mime(mime)
    if got is None or got == kind or kind == "document":
        return
    if kind == "video" and mime in ("image/gif", "image/webp"):
        return  # animated images are videos too
    raise DataError(f"{kind} {name} holds {mime} data, which is not {'an' if kind[0] in 'aeiou' else 'a'} {kind}")


def _is_object(ref: MediaRef) -> bool:
    """An in-memory decoded object, as opposed to bytes or a reference to bytes."""
    if ref.obj is None or isinstance(ref.obj, bytes | bytearray | memoryview):
        return False
    return not (isinstance(ref.obj, dict) and (ref.obj.get("bytes") or ref.obj.get("path")))


# -- images ---------------------------------------------------------------------------------


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


def _check_pixels(size: tuple[int, int], name: str, settings: MediaSettings, kind: str = "image") -> None:
    w, h = size
    if w * h > settings.max_image_pixels:
        raise DataError(
            f"{kind} {name} is {w}x{h} = {w * h:,} pixels, more than max_image_pixels "
            f"({settings.max_image_pixels:,}); refused before decoding (decompression-bomb guard)"
        )
    if w <= 0 or h <= 0:
        raise DataError(f"{kind} {name} has an empty size {w}x{h}")


def open_image(src: Source, settings: MediaSettings, kind: str = "image") -> Image.Image:
    """Open lazily and check the pixel count from the header; decoding happens later."""
    try:
        with _own_pixel_limit():
            img = Image.open(src.file())
    except Exception as e:  # Pillow raises many types; the user needs one clear message
        raise DataError(f"{kind} {src.name} could not be decoded ({type(e).__name__}: {e})") from None
    _check_pixels(img.size, src.name, settings, kind)
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


def _finish_image(img: Image.Image, name: str, settings: MediaSettings, kind: str = "image") -> Image.Image:
    """Decode, apply EXIF orientation, convert to RGB and resize (images from every source)."""
    try:
        img.load()
        with contextlib.suppress(Exception):  # a broken EXIF block must not lose the image
            img = ImageOps.exif_transpose(img)
        img = to_rgb(img)
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"{kind} {name} could not be decoded ({type(e).__name__}: {e})") from None
    if settings.image_size is not None and kind == "image":
        img = img.resize(settings.image_size, _RESAMPLE[settings.resample])
    return img


def _array_to_image(arr: Any, name: str, kind: str = "image") -> Image.Image:
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
    ref = part.ref
    if _is_object(ref):
        obj = ref.obj
        if isinstance(obj, Image.Image):
            img = obj
        elif isinstance(obj, np.ndarray) or hasattr(obj, "detach"):
            img = _array_to_image(obj, ref.describe())
        else:
            raise DataError(f"image given as {type(obj).__name__}, expected a PIL image, an array or bytes")
        _check_pixels(img.size, ref.describe(), settings)
        return _finish_image(img, ref.describe(), settings)
    src = read_source(ref, "image", settings)
    return _finish_image(open_image(src, settings), src.name, settings)


# -- audio ----------------------------------------------------------------------------------


def _as_float_mono(arr: Any, name: str) -> np.ndarray:
    """Mono float32 in [-1, 1] from a 1-D or 2-D (channels first or last) array of any dtype."""
    if hasattr(arr, "detach"):
        arr = arr.detach().cpu().numpy()
    try:
        arr = np.asarray(arr)
    except Exception as e:
        raise DataError(f"audio {name} is not an array of samples ({type(e).__name__}: {e})") from None
    if arr.dtype.kind in "iu":
        info = np.iinfo(arr.dtype)
        mid = (int(info.max) + int(info.min) + 1) / 2
        arr = (arr.astype(np.float64) - mid) / (info.max - mid + 1)
    elif arr.dtype.kind not in "f":
        raise DataError(f"audio {name} has samples of type {arr.dtype}, expected numbers")
    if arr.ndim == 2:  # the channel axis is the short one (soundfile: [n, ch]; librosa: [ch, n])
        arr = arr.mean(axis=1 if arr.shape[1] <= arr.shape[0] else 0)
    if arr.ndim != 1:
        raise DataError(f"audio {name} has shape {tuple(arr.shape)}, expected samples or [samples, channels]")
    if arr.size == 0:
        raise DataError(f"audio {name} is empty (no samples)")
    if not np.isfinite(arr).all():
        raise DataError(f"audio {name} contains NaN or infinite samples")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _decode_audio_pyav(src: Source, rate: int) -> np.ndarray:
    """Containers libsndfile does not read (m4a/aac, opus, the audio track of a video)."""
    import av

    with av.open(src.file()) as c:
        if not c.streams.audio:
            raise ValueError("no audio stream")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = []
        for frame in c.decode(c.streams.audio[0]):
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
        chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    if not chunks:
        raise ValueError("no audio frames")
    return np.concatenate(chunks)


def _decode_audio(src: Source, settings: MediaSettings) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        y, sr = sf.read(src.file(), dtype="float32", always_2d=True)
        return y, sr
    except Exception as first:  # libsndfile lacks some formats: try ffmpeg through PyAV
        try:
            return _decode_audio_pyav(src, settings.sampling_rate), settings.sampling_rate
        except Exception:
            raise DataError(
                f"audio {src.name} could not be decoded ({type(first).__name__}: {first})"
            ) from None


def resample_audio(y: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Resample with soxr (high quality): what ``librosa.resample`` runs by default, called
    directly because importing librosa's resampling path costs ~1.5 s in every worker."""
    if rate == target:
        return y
    import soxr

    return np.ascontiguousarray(soxr.resample(y, rate, target, quality="HQ"), dtype=np.float32)


def load_audio(part: MediaPart, settings: MediaSettings) -> np.ndarray:
    """Mono float32 samples at ``settings.sampling_rate``."""
    ref = part.ref
    name = ref.describe()
    if _is_object(ref):
        obj, rate = ref.obj, ref.sampling_rate
        if isinstance(obj, dict) and "array" in obj:  # HF Audio feature, decoded
            obj, rate = obj["array"], obj.get("sampling_rate") or rate
        elif hasattr(obj, "get_all_samples"):  # torchcodec AudioDecoder (datasets >= 4)
            samples = obj.get_all_samples()
            obj, rate = samples.data, samples.sample_rate
        if not rate:
            raise DataError(f"audio {name} is an array without a sampling rate; give 'sampling_rate' with it")
        y = _as_float_mono(obj, name)
    else:
        src = read_source(ref, "audio", settings)
        y, rate = _decode_audio(src, settings)
        y = _as_float_mono(y, src.name)
    try:
        return resample_audio(y, int(rate), settings.sampling_rate)
    except Exception as e:
        raise DataError(f"audio {name} could not be resampled from {rate} Hz ({type(e).__name__}: {e})") from None


# -- video ----------------------------------------------------------------------------------


def sample_indices(total: int, fps: float, settings: MediaSettings) -> list[int]:
    """Evenly spaced frame indices: ``video_fps`` frames per second, at most ``video_max_frames``."""
    wanted = math.ceil(total / fps * settings.video_fps - 1e-9) if fps > 0 else total
    n = max(1, min(total, settings.video_max_frames, wanted))
    return [i * total // n for i in range(n)]


def _frames_object(ref: MediaRef, settings: MediaSettings) -> VideoClip:
    """A list of frames (PIL / arrays / file names), a [T,H,W,C] array or tensor, or a clip."""
    obj, name = ref.obj, ref.describe()
    fps = 1.0  # bare frames carry no timing: one per second
    if isinstance(obj, VideoClip):
        obj, fps = obj.frames, obj.fps
    elif isinstance(obj, dict) and "frames" in obj:
        obj, fps = obj["frames"], float(obj.get("fps") or fps)
    if hasattr(obj, "detach"):
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        if obj.ndim != 4:
            raise DataError(f"video {name} has shape {tuple(obj.shape)}, expected [frames, height, width, channels]")
    elif not isinstance(obj, list | tuple):
        raise DataError(f"video given as {type(obj).__name__}, expected a file, a list of frames or a 4-D array")
    total = len(obj)
    if total == 0:
        raise DataError(f"video {name} has no frames")
    indices = sample_indices(total, fps, settings)
    frames = []
    for i in indices:
        f = obj[i]
        what = f"{name} frame {i}"
        if isinstance(f, str):
            src = read_source(MediaRef(path=f, base_dir=ref.base_dir), "video frame", settings)
            img = _finish_image(open_image(src, settings, "video frame"), src.name, settings, "video frame")
        elif isinstance(f, Image.Image):
            _check_pixels(f.size, what, settings, "video frame")
            img = _finish_image(f, what, settings, "video frame")
        else:
            img = to_rgb(_array_to_image(f, what, "video frame"))
            _check_pixels(img.size, what, settings, "video frame")
        frames.append(img)
    return VideoClip(frames, fps, indices, total)


def _animated_image(src: Source, settings: MediaSettings) -> VideoClip:
    """GIF / animated WebP as a video, every frame counted (Pillow decodes them)."""
    img = open_image(src, settings, "video")
    total = getattr(img, "n_frames", 1)
    # Frame durations are read from the first frame: reading all would decode the whole file.
    ms = img.info.get("duration") or 100
    fps = 1000.0 / ms
    indices = sample_indices(total, fps, settings)
    frames = []
    try:
        for i in indices:
            img.seek(i)
            frames.append(to_rgb(img.convert("RGBA")))
    except Exception as e:
        raise DataError(f"video {src.name} could not be decoded ({type(e).__name__}: {e})") from None
    return VideoClip(frames, fps, indices, total)


def _container_video(src: Source, settings: MediaSettings) -> VideoClip:
    """mp4 / webm / mov / mkv through PyAV (ffmpeg); only the sampled frames become images."""
    import av

    with av.open(src.file()) as c:
        if not c.streams.video:
            raise DataError(f"video {src.name} has no video stream")
        st = c.streams.video[0]
        rate = st.average_rate or st.guessed_rate
        fps = float(rate) if rate else 0.0
        total = st.frames or sum(1 for p in c.demux(st) if p.size)  # webm headers carry no count
        w, h = st.codec_context.width, st.codec_context.height
        if w and h:  # some containers only know the size once a frame is decoded
            _check_pixels((w, h), src.name, settings, "video frame")
    if total == 0:
        raise DataError(f"video {src.name} has no frames")
    fps = fps or 1.0
    indices = sample_indices(total, fps, settings)
    want, frames, got = set(indices), [], []
    with av.open(src.file()) as c:
        for i, frame in enumerate(c.decode(c.streams.video[0])):
            if i in want:
                frames.append(frame.to_image())
                got.append(i)
            if i >= indices[-1]:
                break
    if not frames:
        raise DataError(f"video {src.name} has no decodable frames")
    return VideoClip(frames, fps, got, total)


def load_video(part: MediaPart, settings: MediaSettings) -> VideoClip:
    ref = part.ref
    if _is_object(ref):
        return _frames_object(ref, settings)
    src = read_source(ref, "video", settings)
    head = src.head(16)
    try:
        if head.startswith((b"GIF87a", b"GIF89a")) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
            return _animated_image(src, settings)
        return _container_video(src, settings)
    except DataError:
        raise
    except Exception as e:  # av.error.* and friends
        raise DataError(f"video {src.name} could not be decoded ({type(e).__name__}: {e})") from None


# -- entry point ----------------------------------------------------------------------------


def decode_media(part: MediaPart, settings: MediaSettings) -> object:
    """Decode one media part into what processors take (PIL image, float32 array, VideoClip)."""
    if part.type == "image":
        return load_image(part, settings)
    if part.type == "audio":
        return load_audio(part, settings)
    if part.type == "video":
        return load_video(part, settings)
    if part.type == "document":
        raise DataError(f"document {part.ref.describe()} was not expanded into pages or text before decoding")
    raise DataError(f"{part.type} media are not supported")
