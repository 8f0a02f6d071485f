"""Audio -> mono float32 samples at the processor's sampling rate.

soundfile (libsndfile) reads most files; PyAV (ffmpeg) reads what it lacks (m4a/aac, opus, the
audio track of a video). In-memory samples come in many shapes and dtypes (HF ``Audio``
features, torchcodec decoders, int16 PCM, channels first or last); they all end up as one mono
float32 array in [-1, 1], resampled with soxr.

Memory is bounded by ``audio_max_seconds``, not by the input: compressed audio is tiny on disk
(an hour of silent FLAC is a few hundred KB) but decodes to gigabytes, so the duration is read
from the header and longer audio is refused before decoding; files are then read a block at a
time and mixed down to mono as they go, and a stream that runs past its header is cut off at
the limit (bench/media_memory.py measures it).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from mmtune.conversation import MediaPart
from mmtune.data.media.settings import MediaSettings
from mmtune.data.media.sources import Source, is_in_memory, read_source
from mmtune.errors import DataError

_BLOCK = 1 << 16  # frames read per call: a few MB however many channels the file has


def _check_seconds(name: str, seconds: float | None, settings: MediaSettings, when: str = "before decoding") -> None:
    if seconds is not None and seconds > settings.audio_max_seconds:
        raise DataError(
            f"audio {name} is {seconds:.1f} s long, more than audio_max_seconds ({settings.audio_max_seconds:g}); "
            f"refused {when}"
        )


def _as_float_mono(arr: Any, name: str) -> np.ndarray:
    """Mono float32 in [-1, 1] from a 1-D or 2-D (channels first or last) array of any dtype."""
    if hasattr(arr, "detach"):
        arr = arr.detach().cpu().numpy()
    try:
        arr = np.asarray(arr)
    except Exception as e:
        raise DataError(f"audio {name} is not an array of samples ({type(e).__name__}: {e})") from None
    if arr.size == 0:  # before the mean: an empty [0, channels] array would average to NaN
        raise DataError(f"audio {name} is empty (no samples)")
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
    if not np.isfinite(arr).all():
        raise DataError(f"audio {name} contains NaN or infinite samples")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _samples_in_memory(obj: Any) -> int | None:
    """How many samples (per channel) an in-memory array holds, without converting it."""
    shape = getattr(obj, "shape", None)
    if shape is None and isinstance(obj, list | tuple):
        shape = (len(obj),) if not obj or not isinstance(obj[0], list | tuple) else (len(obj), len(obj[0]))
    if not shape or len(shape) > 2:
        return None
    return int(max(shape))  # the channel axis is the short one


def _read_soundfile(f: Any, name: str, settings: MediaSettings) -> np.ndarray:
    """Mono float32 at the file's own rate, read a block at a time: the peak is the mono result
    plus one block, not the whole file in every channel."""
    _check_seconds(name, f.frames / f.samplerate if f.samplerate else None, settings)
    n = f.frames
    if n <= 0:
        raise DataError(f"audio {name} is empty (no samples)")
    out = np.empty(n, np.float32)
    buf = np.empty((min(n, _BLOCK), f.channels), np.float32)
    pos = 0
    while pos < n:
        got = f.read(frames=min(_BLOCK, n - pos), dtype="float32", always_2d=True, out=buf)
        if len(got) == 0:
            break
        out[pos : pos + len(got)] = got[:, 0] if f.channels == 1 else got.mean(axis=1)
        pos += len(got)
    if pos == 0:
        raise DataError(f"audio {name} is empty (no samples)")
    return out[:pos]


def _decode_audio_pyav(src: Source, settings: MediaSettings) -> np.ndarray:
    """Containers libsndfile does not read (m4a/aac, opus, the audio track of a video), resampled
    to the processor's rate while decoding; the duration is checked from the header first and the
    decoded length against the limit as it grows (some streams carry no duration)."""
    import av

    rate = settings.sampling_rate
    cap = math.floor(settings.audio_max_seconds * rate)
    with av.open(src.file()) as c:
        if not c.streams.audio:
            raise DataError(f"audio {src.name} has no audio stream")
        st = c.streams.audio[0]
        header = None
        if st.duration is not None and st.time_base:
            header = float(st.duration * st.time_base)
        elif c.duration is not None:
            header = c.duration / av.time_base
        _check_seconds(src.name, header, settings)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks, n = [], 0
        for frame in itertools.chain(c.decode(st), [None]):  # None flushes the resampler
            for f in resampler.resample(frame):
                chunks.append(f.to_ndarray().reshape(-1))
                n += len(chunks[-1])
            if n > cap:  # the header gave no duration, or a shorter one than the stream holds
                said = "its header gives no duration" if header is None else f"its header says {header:.1f} s"
                raise DataError(
                    f"audio {src.name} is longer than audio_max_seconds ({settings.audio_max_seconds:g}) "
                    f"({said}); refused while decoding, after {settings.audio_max_seconds:g} s"
                )
    if not chunks or n == 0:
        raise DataError(f"audio {src.name} is empty (no samples)")
    return np.concatenate(chunks)


def _ffmpeg_reason(e: Exception) -> str:
    """ffmpeg's own words without the file path it appends (the user knows which file)."""
    return getattr(e, "strerror", None) or f"{type(e).__name__}: {e}"


def _decode_audio(src: Source, settings: MediaSettings) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        with sf.SoundFile(src.file()) as f:
            return _read_soundfile(f, src.name, settings), f.samplerate
    except DataError:
        raise
    except Exception:  # libsndfile lacks some formats (or fails mid-file): try ffmpeg through PyAV
        pass
    try:
        return _decode_audio_pyav(src, settings), settings.sampling_rate
    except DataError:
        raise
    except Exception as e:
        # libsndfile's own words mislead here ("File does not exist" for bytes it cannot place):
        # the file was found, and neither library can read what is in it.
        raise DataError(
            f"audio {src.name} could not be decoded (the file is corrupt or not audio: {_ffmpeg_reason(e)})"
        ) from None


def resample_audio(y: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Resample with soxr (high quality): what ``librosa.resample`` runs by default, called
    directly because importing librosa's resampling path costs ~1.5 s in every worker."""
    if rate == target:
        return y
    import soxr

    return np.ascontiguousarray(soxr.resample(y, rate, target, quality="HQ"), dtype=np.float32)


def _decoder_seconds(obj: Any) -> float | None:
    """A torchcodec decoder's duration from its header, read before it decodes anything."""
    meta = getattr(obj, "metadata", None)
    for key in ("duration_seconds_from_header", "duration_seconds"):
        value = getattr(meta, key, None)
        if isinstance(value, int | float):
            return float(value)
    return None


def load_audio(part: MediaPart, settings: MediaSettings) -> np.ndarray:
    """Mono float32 samples at ``settings.sampling_rate``; longer than ``audio_max_seconds`` is refused."""
    ref = part.ref
    name = ref.describe()
    if is_in_memory(ref):
        obj, rate = ref.obj, ref.sampling_rate
        if isinstance(obj, dict) and "array" in obj:  # HF Audio feature, decoded
            obj, rate = obj["array"], obj.get("sampling_rate") or rate
        elif hasattr(obj, "get_all_samples"):  # torchcodec AudioDecoder (datasets >= 4)
            _check_seconds(name, _decoder_seconds(obj), settings)
            samples = obj.get_all_samples()
            obj, rate = samples.data, samples.sample_rate
        if not rate:
            raise DataError(f"audio {name} is an array without a sampling rate; give 'sampling_rate' with it")
        n = _samples_in_memory(obj)
        _check_seconds(name, n / float(rate) if n is not None else None, settings, "before resampling")
        y = _as_float_mono(obj, name)
    else:
        src = read_source(ref, "audio", settings)
        y, rate = _decode_audio(src, settings)
        y = _as_float_mono(y, src.name)
    try:
        return resample_audio(y, int(rate), settings.sampling_rate)
    except Exception as e:
        raise DataError(f"audio {name} could not be resampled from {rate} Hz ({type(e).__name__}: {e})") from None
