"""kill -9 during training, through the real CLI: ``mmtune train CONFIG --resume latest`` ends
exactly where the same run without the kill ends (same losses, same weights), for LoRA and for full
fine-tuning. The kill lands after a complete checkpoint, preferably while a later one is being
written (a folder without its completion marker, which ``latest`` must skip); the timing is not
guaranteed, so the test works out which checkpoint the resume must start from.

Only the killed run is a process of its own; the uninterrupted run and the resume call the CLI's
``main`` in the test's process, which saves two interpreter starts (importing torch, transformers
and peft takes 10-30 s on a busy 2-core machine)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import load_file

from mmtune.cli import main
from mmtune.train.output_dir import MARKER, checkpoints, incomplete_reason

COLORS = ("red", "green", "blue", "white")
STEPS, SAVE = 20, 4


def _project(root: Path, ckpt: Path, adapter: str | None) -> tuple[Path, Path]:
    """A tiny dataset and two configs that differ only in ``output_dir``: ``run.yaml`` (killed,
    then resumed) and ``whole.yaml`` (the uninterrupted run)."""
    (root / "imgs").mkdir(parents=True)
    for i, color in enumerate(COLORS):
        Image.new("RGB", (56, 56), color).save(root / "imgs" / f"{i}.png")
    rows = [
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image", "path": f"imgs/{i % 4}.png"}, {"type": "text", "text": "Color?"}],
                },
                {"role": "assistant", "content": COLORS[i % 4]},
            ]
        }
        for i in range(8)
    ]
    (root / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cfg = {
        "base_model": str(ckpt),
        "datasets": [{"path": "data.jsonl"}],
        "dataset_prepared_path": "prep",
        "adapter": adapter,
        "lora_r": 8,
        "lora_alpha": 16,
        "learning_rate": 1e-3,
        "lr_scheduler": "cosine",  # the scheduler's position must resume too
        "warmup_steps": 2,
        "max_steps": STEPS,
        "save_steps": SAVE,
        "logging_steps": 1,
        "micro_batch_size": 2,
        "seed": 7,
        "torch_threads": 1,
    }
    paths = []
    for name, out in (("run.yaml", "out"), ("whole.yaml", "whole")):
        (root / name).write_text(yaml.safe_dump({**cfg, "output_dir": out}))
        paths.append(root / name)
    return paths[0], paths[1]


def _start(cfg: Path) -> subprocess.Popen:
    """``mmtune train CONFIG`` in a process of its own, to be killed."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "mmtune.cli", "train", str(cfg)]
    with open(cfg.with_suffix(".log"), "w") as log:  # a file, not a pipe: a full pipe would stall the run
        return subprocess.Popen(cmd, cwd=cfg.parent, stdout=log, stderr=subprocess.STDOUT, env=env)


def _kill_midway(proc: subprocess.Popen, out: Path, cfg: Path, result: dict) -> None:
    """kill -9 the run once a checkpoint is complete, preferably while a later one is being written
    (a folder without its marker yet), else after the third (in a thread of its own, while the
    uninterrupted run trains in the test's process)."""
    deadline = time.time() + 300
    while time.time() < deadline:
        found = checkpoints(out)
        done = [c for c in found if (c / MARKER).exists()]
        if done and (found[-1] not in done or len(done) >= 3):
            result["still_running"] = proc.poll() is None
            result["cut"] = [c.name for c in found if c not in done]
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            return
        if proc.poll() is not None:
            result["error"] = cfg.with_suffix(".log").read_text()[-3000:]
            return
        time.sleep(0.02)
    proc.kill()
    result["error"] = "no checkpoint was saved in time"


def _losses(out: Path) -> list[float]:
    """Per-step training losses of the whole run, from the last checkpoint's trainer state (the
    resumed run's holds the steps before the kill too)."""
    state = json.loads((out / f"checkpoint-{STEPS}" / "trainer_state.json").read_text())
    return [h["loss"] for h in state["log_history"] if "loss" in h]


def _weights(out: Path) -> dict[str, torch.Tensor]:
    name = "adapter_model.safetensors" if (out / "adapter_model.safetensors").exists() else "model.safetensors"
    return load_file(out / name)


@pytest.mark.parametrize("adapter", ["lora", None], ids=["lora", "full"])
def test_kill_9_then_resume_latest_reproduces_the_uninterrupted_run(tiny_ckpt, tmp_path, adapter):
    run_cfg, whole_cfg = _project(tmp_path, tiny_ckpt("qwen2_vl"), adapter)
    out = tmp_path / "out"
    killed, result = _start(run_cfg), {}
    watcher = threading.Thread(target=_kill_midway, args=(killed, out, run_cfg, result))
    watcher.start()
    try:
        assert main(["train", str(whole_cfg)]) == 0  # the uninterrupted run, meanwhile, in this process
    finally:
        watcher.join()
    assert "error" not in result, result["error"]
    assert result["still_running"], "the run finished before it could be killed"
    assert not (out / "train_metrics.json").exists()  # it really stopped midway
    complete = [c for c in checkpoints(out) if incomplete_reason(c) is None]
    assert complete and complete[-1].name != f"checkpoint-{STEPS}"
    resumes_at = int(complete[-1].name.split("-")[1])  # newer folders, if any, were cut off by the kill
    print(f"killed while writing {result['cut'] or 'no checkpoint'}; resuming at step {resumes_at}")

    assert main(["train", str(run_cfg), "--resume", "latest"]) == 0

    resumed = json.loads((out / "train_metrics.json").read_text())
    reference = json.loads((tmp_path / "whole" / "train_metrics.json").read_text())
    assert resumed["steps"] == reference["steps"] == STEPS
    assert len(resumed["losses"]) == STEPS - resumes_at  # only the steps after the last complete checkpoint
    assert resumed["last_loss"] == pytest.approx(reference["last_loss"], abs=1e-6)
    assert resumed["losses"] == pytest.approx(reference["losses"][-len(resumed["losses"]) :], abs=1e-6)
    assert _losses(out) == pytest.approx(_losses(tmp_path / "whole"), abs=1e-6)
    got, want = _weights(out), _weights(tmp_path / "whole")
    assert got.keys() == want.keys()
    for name, tensor in want.items():
        torch.testing.assert_close(got[name], tensor, atol=1e-6, rtol=0, msg=name)
    assert all(incomplete_reason(c) is None for c in checkpoints(out))  # every checkpoint left is complete
