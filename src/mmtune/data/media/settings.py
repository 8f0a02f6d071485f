"""``MediaSettings``: every decode-time choice in one frozen record.

One record rather than arguments per decoder because it is written to the run card: inference
must decode prompts exactly as training decoded rows, and the record is what it reads back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MediaSettings:
    """Decode-time settings, recorded in the run card so inference reproduces them."""

    image_size: tuple[int, int] | None = None
    resample: str = "bilinear"
    # Images with more pixels are refused before decoding (decompression-bomb guard).
    max_image_pixels: int = 40_000_000
    # Total pixels of a video's sampled frames (frames are scaled down while decoding to fit).
    video_max_pixels: int = 64_000_000
    # Audio longer than this (read from its header) is refused before decoding.
    audio_max_seconds: float = 1800.0
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
    # Seconds one URL may take in all, retries included (a server trickling bytes is cut off).
    url_deadline: float = 120.0
    url_backoff: float = 0.5
    url_max_mb: float = 20.0
    url_cache_dir: str | None = None
    # Zip media_dir: archives with more members, or big members packed tighter, are refused.
    # The media trust boundary (data/media/trust.py): absolute paths only under these folders when
    # any are given; URLs to loopback / private / link-local / multicast addresses only when allowed.
    media_roots: tuple[str, ...] = ()
    allow_private_urls: bool = False
    zip_max_members: int = 1_000_000
    zip_max_ratio: float = 100.0

    @classmethod
    def from_config(cls, cfg: Any, sampling_rate: int = 16_000) -> MediaSettings:
        """The settings a config's keys choose (``sampling_rate``: the processor's, where known)."""
        return cls(
            image_size=cfg.image_wh,
            resample=cfg.image_resize_algorithm,
            sampling_rate=sampling_rate,
            video_fps=cfg.video_fps,
            video_max_frames=cfg.video_max_frames,
            pdf_max_pages=cfg.pdf_max_pages,
            pdf_dpi=cfg.pdf_dpi,
            max_image_pixels=cfg.max_image_pixels,
            video_max_pixels=cfg.video_max_pixels,
            audio_max_seconds=cfg.audio_max_seconds,
            url_timeout=cfg.url_timeout,
            url_retries=cfg.url_retries,
            url_deadline=cfg.url_deadline,
            url_max_mb=cfg.url_max_mb,
            media_roots=tuple(cfg.media_roots or ()),
            allow_private_urls=cfg.allow_private_urls,
        )
