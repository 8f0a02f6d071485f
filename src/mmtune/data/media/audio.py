"""Audio -> mono float32 samples at the processor's sampling rate.

soundfile (libsndfile) reads most files; PyAV (ffmpeg) reads what it lacks (m4a/aac, opus, the
audio track of a video). In-memory samples come in many shapes and dtypes (HF ``Audio``
features, torchcodec decoders, int16 PCM, channels first or last); they all end up as one mono
float32 array in [-1, 1], resampled with soxr.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmtune.conversation import MediaPart
from mmtune.data.media.settings import MediaSettings
from mmtune.data.media.sources import Source, is_in_memory, read_source
from mmtune.errors import DataError


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
            raise DataError(f"audio {src.name} could not be decoded ({type(first).__name__}: {first})") from None


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
    if is_in_memory(ref):
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
