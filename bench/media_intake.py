"""Media intake throughput: decoded-and-resized images per second through the real preprocess path.

Writes N generated JPEG/PNG photos-sized images and a jsonl with one image per row, makes a tiny
qwen2_vl checkpoint, then times ``prepare()`` (decode, resize, render, processor, labels, Arrow
cache) with 1 and 2 worker processes, and a second ``prepare()`` that reuses the on-disk cache.
For reference it also times ``decode_media`` alone in a process pool.

    .venv/bin/python bench/media_intake.py [--images 300] [--size 640x480]

Figures are machine-specific; docs/benchmarks.md records them as ratios to the 1-worker run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars would bury the table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

# Only light imports at module level: spawned decode workers re-import this module.
from mmtune.conversation import MediaPart, MediaRef
from mmtune.data.media import MediaSettings, decode_media

_SETTINGS = MediaSettings(image_size=(224, 224))


def _decode_one(path: str) -> int:
    return decode_media(MediaPart("image", MediaRef(path=path)), _SETTINGS).size[0]


def decode_only(paths: list[str], workers: int) -> tuple[float, float]:
    """(seconds to decode all, seconds to start the pool): startup is timed apart from the work."""
    if workers == 1:
        start = time.perf_counter()
        for p in paths:
            _decode_one(p)
        return time.perf_counter() - start, 0.0
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(workers) as pool:
        pool.map(_decode_one, paths[:workers], chunksize=1)  # every worker up and warm
        ready = time.perf_counter()
        pool.map(_decode_one, paths, chunksize=8)
        done = time.perf_counter()
    return done - ready, ready - start


def _start_row_processor(settings) -> None:
    import torch

    from mmtune.preprocess.rows import RowProcessor

    torch.set_num_threads(1)
    RowProcessor(settings)


def worker_startup(ckpt: Path, root: Path, data: Path) -> float:
    """Seconds for one spawned process to import mmtune and load the processor, as prepare()'s
    workers do before their first row."""
    from mmtune.config import parse_config
    from mmtune.preprocess.settings import settings_from_config

    cfg = parse_config({"base_model": str(ckpt), "datasets": [{"path": str(data)}], "output_dir": str(root / "out")})
    settings, _ = settings_from_config(cfg)
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(1, initializer=_start_row_processor, initargs=(settings,)) as pool:
        pool.map(abs, [0])
    return time.perf_counter() - start


def timed_prepare(root: Path, ckpt: Path, data: Path, workers: int, cache: str) -> tuple[float, bool]:
    from mmtune.config import parse_config
    from mmtune.preprocess.cache import prepare
    from mmtune.preprocess.settings import settings_from_config

    cfg = parse_config(
        {
            "base_model": str(ckpt),
            "datasets": [{"path": str(data)}],
            "image_size": 224,
            "dataset_prepared_path": str(root / cache),
            "output_dir": str(root / "out"),
            "sequence_len": 4096,
        }
    )
    settings, processor = settings_from_config(cfg)
    start = time.perf_counter()
    prepared = prepare(cfg, settings, workers=workers, processor=processor)
    elapsed = time.perf_counter() - start
    assert prepared.report.kept == prepared.report.read, prepared.report.summary()
    return elapsed, prepared.reused


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=600)
    ap.add_argument("--size", default="640x480", help="generated image size WxH")
    args = ap.parse_args()
    import torch
    from media_fixtures import make_images

    from mmtune.tiny import make_tiny

    torch.set_num_threads(1)
    w, h = (int(x) for x in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = make_images(root / "imgs", args.images, size=(w, h))
        data = root / "train.jsonl"
        data.write_text(
            "".join(
                json.dumps(
                    {
                        "messages": [
                            {
                                "role": "user",
                                "content": [
                                    {"type": "image", "path": f"imgs/{p.name}"},
                                    {"type": "text", "text": "Colour?"},
                                ],
                            },
                            {"role": "assistant", "content": "a colour"},
                        ]
                    }
                )
                + "\n"
                for p in paths
            )
        )
        ckpt = root / "tiny"
        make_tiny("qwen2_vl", ckpt)

        rows = []
        t1, _ = timed_prepare(root, ckpt, data, 1, "prep1")
        rows.append(("prepare(), 1 worker", t1, t1))
        # Right after the first run: the cache key includes mmtune's source hash, so an edit of
        # the tree in between (another process working on it) would make this a fresh run.
        tc, reused = timed_prepare(root, ckpt, data, 1, "prep1")
        if reused:
            rows.append(("prepare() again (cached)", tc, t1))
        else:
            print("note: mmtune's sources changed between the runs, so the cache was not reused")
        t2, _ = timed_prepare(root, ckpt, data, 2, "prep2")
        rows.append(("prepare(), 2 workers", t2, t1))
        boot = worker_startup(ckpt, root, data)
        str_paths = [str(p) for p in paths]
        d1, _ = decode_only(str_paths, 1)
        rows.append(("decode_media only, 1 process", d1, d1))
        d2, startup = decode_only(str_paths, 2)
        rows.append(("decode_media only, 2 processes*", d2, d1))

    print(f"\n{args.images} images {w}x{h} (jpeg/png) -> 224x224, {os.cpu_count()} CPUs, torch threads 1")
    print(f"{'run':34} {'seconds':>8} {'images/s':>9} {'vs 1 worker':>12}")
    for name, secs, ref in rows:
        print(f"{name:34} {secs:8.2f} {args.images / secs:9.1f} {ref / secs:11.2f}x")
    print(f"* warm pool; starting its 2 spawned processes took another {startup:.2f} s")
    print(f"one prepare() worker's start-up (spawn, imports, processor load): {boot:.2f} s")


if __name__ == "__main__":
    main()
