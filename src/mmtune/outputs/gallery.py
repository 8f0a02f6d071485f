"""The report's gallery: held-out rows with their media, reference and answers before and after.

Media are embedded (the report is one file someone can mail or archive): images as thumbnails,
video as a few frames, both decoded by mmtune's own decoders with the run's media settings (the
same trust rules as training: a path outside ``media_roots`` is not read); audio as a player whose
data URI is a 16-bit WAV of the decoded clip, capped in length so a long recording does not make
the report huge. URLs are linked, not fetched: building a report never touches the network.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from mmtune.conversation import MediaPart, MediaRef
from mmtune.data.media import MediaSettings, load_audio, load_image, load_video
from mmtune.errors import DataError, MmtuneError

log = logging.getLogger("mmtune")

# Before training: the in-training evaluation at step 0, else `mmtune evaluate --base`.
BEFORE_FILES = ("eval_predictions_before.jsonl", "eval_predictions_base.jsonl")
AFTER_FILE = "eval_predictions.jsonl"
THUMB_PX = 160
VIDEO_FRAMES = 4
AUDIO_MAX_SECONDS = 30.0
# Rows shown: a gallery is for looking at examples, not for every held-out row.
MAX_ROWS = 24


@dataclass
class MediaView:
    """One media item as the report shows it."""

    kind: str
    name: str
    images: list[str] = field(default_factory=list)  # data URIs of thumbnails (an image, or video frames)
    audio: str | None = None  # data URI of a WAV
    link: str | None = None  # a URL, linked rather than fetched
    note: str = ""  # why something is missing or cut


@dataclass
class GalleryRow:
    row_id: str
    prompt: str
    reference: str
    media: list[MediaView]
    before: dict | None  # {"prediction", "scores", "step"} of the evaluation before training
    after: dict | None  # the same for the latest evaluation


def read_predictions(path: Path) -> list[dict]:
    """Rows of an ``eval_predictions*.jsonl`` file ([] when there is none yet)."""
    if not path.is_file():
        return []
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise MmtuneError(f"{path} line {n} is not JSON ({e.msg})") from None
    return rows


def thumbnail(img: Image.Image, px: int = THUMB_PX) -> str:
    """A JPEG data URI of ``img`` scaled to at most ``px`` on its longer side."""
    img = img.convert("RGB")
    img.thumbnail((px, px))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def wav_uri(samples: np.ndarray, rate: int) -> str:
    """A 16-bit mono WAV data URI (soundfile, already a dependency for decoding audio)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(samples, -1.0, 1.0), rate, format="WAV", subtype="PCM_16")
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode()


def _ref(ref: str, roots: list[str]) -> MediaRef:
    """A prediction file's media reference as a ``MediaRef``: a data URI, or a path found under
    the first of ``roots`` that has it (the output folder, then the datasets' folders)."""
    if ref.startswith("data:"):
        return MediaRef(data_uri=ref)
    if os.path.isabs(ref):
        return MediaRef(path=ref)
    for root in roots:
        if os.path.exists(os.path.join(root, ref)):
            return MediaRef(path=ref, base_dir=root)
    return MediaRef(path=ref, base_dir=roots[0] if roots else None)


def media_view(kind: str, ref: str | None, roots: list[str], settings: MediaSettings) -> MediaView:
    """Decode one media item for the gallery; a failure becomes the view's note, never an error:
    a report with one unreadable image is still worth having."""
    name = ref if ref and not ref.startswith("data:") else f"inline {kind}"
    view = MediaView(kind, name)
    if ref is None:
        view.note = "not recorded"
        return view
    if ref.startswith(("http://", "https://")):
        view.link = ref
        return view
    part = MediaPart(kind, _ref(ref, roots))  # type: ignore[arg-type]
    try:
        if kind == "image":
            view.images = [thumbnail(load_image(part, settings))]
        elif kind == "video":
            clip = load_video(part, replace(settings, video_max_frames=VIDEO_FRAMES))
            view.images = [thumbnail(f, THUMB_PX // 2) for f in clip.frames[:VIDEO_FRAMES]]
        elif kind == "audio":
            samples = load_audio(part, settings)
            rate = settings.sampling_rate
            seconds = len(samples) / rate
            cap = int(AUDIO_MAX_SECONDS * rate)
            if len(samples) > cap:
                view.note = (
                    f"first {AUDIO_MAX_SECONDS:g} s of {seconds:.1f} s (longer clips are cut to keep the report small)"
                )
            view.audio = wav_uri(samples[:cap], rate)
        else:
            view.note = f"{kind} not previewed"
    except DataError as e:
        view.note = f"could not be shown: {e.reason}"
    except Exception as e:  # whatever it is, the rest of the report stands
        view.note = f"could not be shown: {type(e).__name__}: {e}"
    return view


def gallery(out_dir: Path, roots: list[str], settings: MediaSettings, limit: int = MAX_ROWS) -> list[GalleryRow]:
    """Rows of the latest evaluation (or, before any, of the one before training), joined by row id
    with the other file, with their media decoded."""
    found = next((out_dir / f for f in BEFORE_FILES if (out_dir / f).is_file()), None)
    before = {r.get("row_id"): r for r in read_predictions(found)} if found else {}
    after = {r.get("row_id"): r for r in read_predictions(out_dir / AFTER_FILE)}
    order = list(after) + [k for k in before if k not in after]
    rows = []
    for row_id in order[:limit]:
        base = after.get(row_id) or before[row_id]
        media = [media_view(m.get("kind", "?"), m.get("ref"), roots, settings) for m in base.get("media") or []]

        def answer(r: dict | None) -> dict | None:
            if r is None:
                return None
            return {"prediction": str(r.get("prediction", "")), "scores": r.get("scores") or {}, "step": r.get("step")}

        rows.append(
            GalleryRow(
                str(row_id),
                str(base.get("prompt", "")),
                str(base.get("reference", "")),
                media,
                answer(before.get(row_id)),
                answer(after.get(row_id)),
            )
        )
    return rows
