"""Peak memory of decoding media that are tiny on disk and huge once decoded.

Each case runs in its own child process and its peak RSS is read from the kernel's accounting of
that child (``os.wait4`` -> ``ru_maxrss``), next to a baseline child that only imports the same
modules. The inputs are written by a child too: Linux carries the parent's peak over ``exec`` into
a child's ``ru_maxrss``, so the parent must stay small. What a case costs is its peak over the
baseline: with the bounds in place that is set by the limits (``audio_max_seconds``,
``video_max_pixels``, ``max_image_pixels``), not by the input.

    .venv/bin/python bench/media_memory.py [--keep DIR] [--src OTHER_CHECKOUT/src]

``--src`` runs the children on another copy of the package (``git worktree`` or ``git archive``
of an older commit), to compare before and after a change on the same inputs.

Cases: (a) a one-hour silent 44.1 kHz stereo FLAC (refused from its header; (a') decoded under a
limit that allows it, to show the cost of a long file read a block at a time), (b) a 16-frame GIF
of 3000x3000 frames used as a video (frames scaled to fit ``video_max_pixels``), (c) a 9000x9000
JPEG (decoded at 1/2 scale to fit ``max_image_pixels``); (c') the same JPEG with a limit that lets
it decode whole, for reference. Figures are machine-specific.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve()

# name -> (media kind, file name, MediaSettings overrides); None: the imports-only baseline
CASES: dict[str, tuple[str, str, dict] | None] = {
    "baseline (imports only)": None,
    "(a) 1 h silent FLAC, 44.1 kHz stereo": ("audio", "hour.flac", {}),
    "(a') the same, limit 3600 s (decoded)": ("audio", "hour.flac", {"audio_max_seconds": 3600.0}),
    "(b) GIF 16 x 3000x3000 as video": ("video", "big.gif", {}),
    "(c) JPEG 9000x9000": ("image", "big.jpg", {}),
    "(c') JPEG 9000x9000, limit 81M (whole)": ("image", "big.jpg", {"max_image_pixels": 81_000_000}),
}


def make_inputs(folder: Path) -> None:
    """The three inputs: each a few hundred KB on disk."""
    import numpy as np
    import soundfile as sf
    from PIL import Image

    flac = folder / "hour.flac"
    if not flac.exists():
        with sf.SoundFile(flac, "w", samplerate=44_100, channels=2, format="FLAC") as f:
            block = np.zeros((44_100 * 60, 2), np.int16)
            for _ in range(60):
                f.write(block)
    gif = folder / "big.gif"
    if not gif.exists():
        frames = [Image.new("L", (3000, 3000), (i * 37) % 200 + 20) for i in range(16)]
        # 500 ms a frame: 8 s of video, so the default 2 fps samples all 16 frames
        frames[0].save(gif, save_all=True, append_images=frames[1:], duration=500, loop=0)
        del frames
    jpg = folder / "big.jpg"
    if not jpg.exists():
        Image.new("RGB", (9000, 9000), (200, 30, 30)).save(jpg, quality=90)


def child(kind: str | None, path: str | None, overrides: str) -> None:
    """Import what every case imports, then (unless baseline) decode one file and say what came out."""
    import av  # noqa: F401
    import numpy as np  # noqa: F401
    import soundfile  # noqa: F401
    import soxr  # noqa: F401
    from PIL import Image  # noqa: F401

    import mmtune
    from mmtune.conversation import MediaPart, MediaRef
    from mmtune.data.media import MediaSettings, decode_media
    from mmtune.errors import DataError

    out: dict[str, object] = {"mmtune": str(Path(mmtune.__file__).parent)}
    if kind is not None:
        settings = MediaSettings(**json.loads(overrides))
        try:
            got = decode_media(MediaPart(kind, MediaRef(path=path)), settings)
            if kind == "audio":
                out["result"] = f"{got.shape[0]:,} samples"
            elif kind == "image":
                out["result"] = f"{got.size[0]}x{got.size[1]}"
            else:
                px = sum(f.width * f.height for f in got.frames)
                out["result"] = f"{len(got.frames)} frames of {got.frames[0].width}x{got.frames[0].height} = {px:,} px"
        except DataError as e:
            out["result"] = f"refused: {e.reason}"
    print(json.dumps(out))


def measure(case: tuple[str, str, dict] | None, folder: Path) -> tuple[float, dict]:
    """(peak RSS of the child in MB, what it printed)."""
    args = [sys.executable, str(HERE), "--child"]
    if case is not None:
        kind, name, overrides = case
        args += [kind, str(folder / name), json.dumps(overrides)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    stdout = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}): {args}")
    return usage.ru_maxrss / 1024, json.loads(stdout.strip().splitlines()[-1])  # ru_maxrss is in KB on Linux


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--make":
        make_inputs(Path(sys.argv[2]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        rest = sys.argv[2:]
        child(rest[0] if rest else None, rest[1] if rest else None, rest[2] if rest else "{}")
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", help="folder to write the inputs to and keep (default: a temporary one)")
    ap.add_argument("--src", help="a folder holding another mmtune package, put first on the children's path")
    a = ap.parse_args()
    if a.src:
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [a.src, os.environ.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(a.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(HERE), "--make", str(folder)], check=True)
        sizes = {p.name: p.stat().st_size for p in folder.iterdir()}
        print("inputs: " + ", ".join(f"{n} {s / 1e3:,.0f} KB" for n, s in sorted(sizes.items())))
        base = None
        print(f"{'case':42} {'peak MB':>8} {'over base':>10} {'x base':>7}  result")
        for name, case in CASES.items():
            peak, out = measure(case, folder)
            base = peak if base is None else base
            print(f"{name:42} {peak:8.0f} {peak - base:10.0f} {peak / base:7.2f}  {out.get('result', '')}")
        print(f"mmtune from {out['mmtune']}")


if __name__ == "__main__":
    main()
