"""Video -> ``VideoClip``: frames sampled by time, with the timing processors need.

Three sources: container files (mp4, webm, mov, mkv, ... through PyAV), animated GIF / WebP
(Pillow), and frames already in memory (a list of images, arrays or file names, or a 4-D array).
Frames are sampled evenly at ``video_fps`` and capped at ``video_max_frames`` before they become
images, so a long video costs the frames kept, not the frames it has. Each frame goes through
the image policy (pixel limit, RGB) of ``media.image``.

The kept frames together hold at most ``video_max_pixels``: each gets an equal share and is
scaled down (aspect kept) while it is decoded, by ffmpeg's scaler for containers, per frame for
GIFs, by libjpeg's reduced decoding for JPEG frame files. Big frames are normal video, so
nothing is logged; what a video costs in memory is set by the limit, not by its resolution.
A configured ``image_size`` is every frame's size instead, as it is every image's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from mmtune.conversation import MediaPart, MediaRef
from mmtune.data.media.image import (
    array_to_image,
    check_pixels,
    finish_image,
    fit_size,
    frame_image,
    open_image,
    to_rgb,
)
from mmtune.data.media.settings import MediaSettings
from mmtune.data.media.sources import Source, is_in_memory, read_source
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


_SWS_FILTER = {"bilinear": "BILINEAR", "bicubic": "BICUBIC", "lanczos": "LANCZOS", "nearest": "POINT"}


def frame_budget(n_frames: int, settings: MediaSettings) -> int:
    """Pixels each of ``n_frames`` sampled frames may keep: an equal share of ``video_max_pixels``."""
    return max(1, settings.video_max_pixels // max(1, n_frames))


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
    budget = frame_budget(len(indices), settings)
    frames = []
    for i in indices:
        f = obj[i]
        what = f"{name} frame {i}"
        if isinstance(f, str):
            src = read_source(MediaRef(path=f, base_dir=ref.base_dir), "video frame", settings)
            img = finish_image(open_image(src, settings, "video frame", budget), src.name, settings, "video frame")
        elif isinstance(f, Image.Image):
            check_pixels(f.size, what, settings, "video frame")
            img = finish_image(f, what, settings, "video frame")
        else:
            img = to_rgb(array_to_image(f, what, "video frame"))
            check_pixels(img.size, what, settings, "video frame")
        frames.append(frame_image(img, budget, settings))
    return VideoClip(frames, fps, indices, total)


def _animated_image(src: Source, settings: MediaSettings) -> VideoClip:
    """GIF / animated WebP as a video, every frame counted (Pillow decodes them)."""
    img = open_image(src, settings, "video")
    total = getattr(img, "n_frames", 1)
    # Frame durations are read from the first frame: reading all would decode the whole file.
    ms = img.info.get("duration") or 100
    fps = 1000.0 / ms
    indices = sample_indices(total, fps, settings)
    budget = frame_budget(len(indices), settings)
    frames = []
    try:
        for i in indices:
            img.seek(i)  # one frame whole at a time (at most max_image_pixels), kept only scaled down
            frames.append(to_rgb(frame_image(img.convert("RGBA"), budget, settings)))
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
            check_pixels((w, h), src.name, settings, "video frame")
    if total == 0:
        raise DataError(f"video {src.name} has no frames")
    fps = fps or 1.0
    indices = sample_indices(total, fps, settings)
    budget, sws = frame_budget(len(indices), settings), _SWS_FILTER[settings.resample]
    want, frames, got = set(indices), [], []
    with av.open(src.file()) as c:
        for i, frame in enumerate(c.decode(c.streams.video[0])):
            if i in want:  # scaled while converted to RGB: the full-size RGB frame never exists
                size = settings.image_size or fit_size((frame.width, frame.height), budget)
                scale = {} if size == (frame.width, frame.height) else {"interpolation": sws}
                frames.append(frame.to_image(width=size[0], height=size[1], **scale))
                got.append(i)
            if i >= indices[-1]:
                break
    if not frames:
        raise DataError(f"video {src.name} has no decodable frames")
    return VideoClip(frames, fps, got, total)


def fewer_frames(clip: VideoClip, factor: float, min_frames: int) -> VideoClip | None:
    """``clip`` with about ``factor`` times its frames, kept evenly spaced with their timing, but never
    fewer than ``min_frames``: a row over its token budget (``media_fit: shrink``) loses frames before it
    loses the video. None when it cannot get shorter."""
    n = len(clip.frames)
    keep = max(1, min_frames, int(n * factor))
    if keep >= n:
        return None
    picks = [i * n // keep for i in range(keep)]
    return VideoClip([clip.frames[i] for i in picks], clip.fps, [clip.indices[i] for i in picks], clip.total_frames)


def load_video(part: MediaPart, settings: MediaSettings) -> VideoClip:
    ref = part.ref
    if is_in_memory(ref):
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
