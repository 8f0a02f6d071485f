"""Faults across processes: the real CLI and real worker processes, killed or run side by side."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import yaml
from PIL import Image

ROWS = 40


def _project(tmp_path: Path, ckpt: Path, **extra) -> Path:
    (tmp_path / "imgs").mkdir(exist_ok=True)
    Image.new("RGB", (56, 56), "red").save(tmp_path / "imgs" / "a.png")
    row = {
        "messages": [
            {"role": "user", "content": [{"type": "image", "path": "imgs/a.png"}, {"type": "text", "text": "Color?"}]},
            {"role": "assistant", "content": "red"},
        ]
    }
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(row) for _ in range(ROWS)) + "\n")
    cfg = {
        "base_model": str(ckpt),
        "datasets": [{"path": "data.jsonl"}],
        "dataset_prepared_path": "prep",
        "output_dir": "out",
        "torch_threads": 1,
        **extra,
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _env() -> dict:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}


def test_two_preprocess_runs_of_one_config_at_once(tiny_ckpt, tmp_path):
    cfg = _project(tmp_path, tiny_ckpt("qwen2_vl"))
    cmd = [sys.executable, "-m", "mmtune.cli", "preprocess", str(cfg)]
    runs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()) for _ in range(2)
    ]
    outs = [r.communicate(timeout=300) for r in runs]
    for r, (out, err) in zip(runs, outs):
        assert r.returncode == 0, err[-2000:]
        assert f"rows_kept          {ROWS}" in out
    assert len([p for p in (tmp_path / "prep").iterdir() if ".tmp-" in p.name]) == 0  # nothing half-written left


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by a dead parent's init) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_workers_exit_when_preprocessing_is_killed(tiny_ckpt, tmp_path):
    """kill -9 of a preprocessing run must not leave its worker processes behind."""
    cfg = _project(tmp_path, tiny_ckpt("qwen2_vl"), dataset_processes=2)
    script = textwrap.dedent(f"""
        import multiprocessing, time
        from mmtune.config import load_config
        from mmtune.preprocess.cache import config_tasks
        from mmtune.preprocess.pool import process_rows
        from mmtune.preprocess.settings import settings_from_config

        if __name__ == "__main__":
            cfg = load_config({str(cfg)!r})
            settings, _ = settings_from_config(cfg)
            tasks, _ = config_tasks(cfg)
            for i, _ in enumerate(process_rows(tasks, settings, workers=2)):
                if i == 0:
                    print("workers", *[p.pid for p in multiprocessing.active_children()], flush=True)
                    time.sleep(600)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    )
    line = ""
    deadline = time.time() + 240
    while not line.startswith("workers") and time.time() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise AssertionError(proc.stderr.read()[-2000:])
    pids = [int(x) for x in line.split()[1:]]
    assert len(pids) >= 2, line
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.time() + 20
    while any(_alive(p) for p in pids) and time.time() < deadline:
        time.sleep(0.5)
    assert not [p for p in pids if _alive(p)], "worker processes outlived their killed parent"
