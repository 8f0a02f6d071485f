"""A full disk (or quota): one clear line naming the folder, no traceback, and nothing half-written
that a later run trusts, neither a preprocessing cache nor a checkpoint.

The writers are patched to fail the way a full disk makes them fail (``OSError`` ENOSPC / EDQUOT
from Python's writes, partial files left behind); where this machine lets the test mount a small
tmpfs (root, or CAP_SYS_ADMIN), a real full filesystem is used as well: there ``torch.save`` reports
the full disk as a bare ``RuntimeError`` of its C++ stream, which only a real disk shows.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from datasets.arrow_writer import ArrowWriter
from PIL import Image

from mmtune.cli import main
from mmtune.config import parse_config
from mmtune.errors import ConfigError
from mmtune.train.output_dir import MARKER, checkpoints, incomplete_reason, mark_complete, prepare_output_dir

COLORS = ("red", "green", "blue", "white")


def _project(root: Path, ckpt: Path, **extra) -> Path:
    (root / "imgs").mkdir(parents=True, exist_ok=True)
    for i, color in enumerate(COLORS):
        Image.new("RGB", (56, 56), color).save(root / "imgs" / f"{i}.png")
    rows = [
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image", "path": f"imgs/{i}.png"}, {"type": "text", "text": "?"}],
                },
                {"role": "assistant", "content": color},
            ]
        }
        for i, color in enumerate(COLORS)
    ]
    (root / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    cfg = {
        "base_model": str(ckpt),
        "datasets": [{"path": "data.jsonl"}],
        "dataset_prepared_path": "prep",
        "output_dir": "out",
        "adapter": "lora",
        "lora_r": 8,
        "lora_alpha": 16,
        "max_steps": 4,
        "save_steps": 2,
        "warmup_steps": 0,
        "logging_steps": 1,
        "micro_batch_size": 2,
        "torch_threads": 1,
        **extra,
    }
    path = root / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _error(caplog) -> str:
    """The one error the CLI logged: a single line."""
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert "\n" not in errors[0]
    return errors[0]


def _full(code: int = errno.ENOSPC, filename: str | None = None) -> OSError:
    return OSError(code, os.strerror(code), filename)


# -- preprocessing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "code"), [("rows", errno.ENOSPC), ("manifest", errno.EDQUOT)], ids=["rows-ENOSPC", "manifest-EDQUOT"]
)
def test_a_full_disk_while_saving_preprocessed_rows(tiny_ckpt, tmp_path, monkeypatch, caplog, capfd, where, code):
    cfg = _project(tmp_path, tiny_ckpt("qwen2_vl"))
    if where == "rows":
        real = ArrowWriter.finalize

        def finalize(self, *a, **kw):  # writes the rows file, then the disk is full
            real(self, *a, **kw)
            raise _full(code)

        monkeypatch.setattr(ArrowWriter, "finalize", finalize)
    else:
        real_write = Path.write_text

        def write_text(self, data, *a, **kw):
            if self.name == "report.json":
                real_write(self, data[: len(data) // 2], *a, **kw)
                raise _full(code, str(self))
            return real_write(self, data, *a, **kw)

        monkeypatch.setattr(Path, "write_text", write_text)
    assert main(["preprocess", str(cfg)]) == 2
    why = "no space left on device" + (" (disk quota exceeded)" if code == errno.EDQUOT else "")
    assert _error(caplog) == (
        f"{why} while saving the preprocessed rows to {tmp_path / 'prep'} (the partial cache was removed); "
        "free space or set dataset_prepared_path to a folder on another disk"
    )
    assert "Traceback" not in capfd.readouterr().err
    assert list((tmp_path / "prep").iterdir()) == []  # no cache, and no half-written folder

    monkeypatch.undo()
    assert main(["preprocess", str(cfg)]) == 0
    assert capfd.readouterr().out.startswith("preprocessed: ")  # made again, not a cache reused


# -- checkpoints ----------------------------------------------------------------------------------


def _fail_optimizer_save(monkeypatch) -> None:
    """torch.save of checkpoint-4's optimizer state writes part of the file, then the disk is full."""
    real = torch.save

    def save(obj, f, *a, **kw):
        if str(f).endswith(os.path.join("checkpoint-4", "optimizer.pt")):
            Path(f).write_bytes(b"PK\x03\x04 partial")
            raise _full(errno.ENOSPC, str(f))
        return real(obj, f, *a, **kw)

    monkeypatch.setattr(torch, "save", save)


def _fail_marking(monkeypatch) -> None:
    """Flushing checkpoint-4 to disk before marking it complete reports the exhausted quota."""
    import mmtune.train.callbacks as callbacks

    real = callbacks.mark_complete

    def mark(folder, step):
        if step == 4:
            raise _full(errno.EDQUOT)
        return real(folder, step)

    monkeypatch.setattr(callbacks, "mark_complete", mark)


@pytest.mark.parametrize(
    ("fail", "why"),
    [
        (_fail_optimizer_save, "no space left on device"),
        (_fail_marking, "no space left on device (disk quota exceeded)"),
    ],
    ids=["optimizer-ENOSPC", "marker-EDQUOT"],
)
def test_a_full_disk_while_saving_a_checkpoint(tiny_ckpt, tmp_path, monkeypatch, caplog, capfd, fail, why):
    cfg = _project(tmp_path, tiny_ckpt("qwen2_vl"))
    out = tmp_path / "out"
    fail(monkeypatch)
    assert main(["train", str(cfg)]) == 2
    assert _error(caplog) == (
        f"{why} while saving checkpoint {out / 'checkpoint-4'}; the incomplete checkpoint was removed. "
        "Free space, then `mmtune train CONFIG --resume` continues from the last complete checkpoint"
    )
    assert "Traceback" not in capfd.readouterr().err
    assert [c.name for c in checkpoints(out)] == ["checkpoint-2"]
    assert incomplete_reason(out / "checkpoint-2") is None
    assert not (out / "mmtune_run.json").exists() and not (out / "train_metrics.json").exists()

    monkeypatch.undo()
    assert main(["train", str(cfg), "--resume"]) == 0
    metrics = json.loads((out / "train_metrics.json").read_text())
    assert metrics["steps"] == 4 and len(metrics["losses"]) == 2  # steps 3 and 4, from checkpoint-2
    assert incomplete_reason(out / "checkpoint-4") is None


def test_a_full_disk_while_saving_the_trained_model(tiny_ckpt, tmp_path, monkeypatch, caplog, capfd):
    """The run card is what makes a folder a trained output: it is never left beside weights a full
    disk cut off (an earlier run's card included)."""
    from mmtune.outputs.runcard import RunCard

    cfg = _project(tmp_path, tiny_ckpt("qwen2_vl"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "mmtune_run.json").write_text("{}")  # as an earlier run in this folder left it
    (tmp_path / "cfg.yaml").write_text(
        yaml.safe_dump({**yaml.safe_load(cfg.read_text()), "overwrite_output_dir": True})
    )

    def save(self, out_dir):
        raise _full(errno.ENOSPC, str(Path(out_dir, "mmtune_run.json")))

    monkeypatch.setattr(RunCard, "save", save)
    assert main(["train", str(cfg)]) == 2
    assert _error(caplog) == (
        f"no space left on device while saving the trained model to {out}. Free space, then "
        "`mmtune train CONFIG --resume` saves it from the last checkpoint"
    )
    assert "Traceback" not in capfd.readouterr().err
    assert not (out / "mmtune_run.json").exists()

    monkeypatch.undo()
    assert main(["train", str(cfg), "--resume"]) == 0
    assert json.loads((out / "train_metrics.json").read_text())["steps"] == 4
    assert (out / "mmtune_run.json").exists()


def test_any_other_full_disk_is_one_line_too(caplog, capfd, monkeypatch):
    """Outside the places that name their folder, the CLI still says it in one line."""
    import mmtune.cli as cli

    def fails(_args):
        raise _full(errno.ENOSPC, "/data/somewhere/file.bin")

    monkeypatch.setattr(cli, "cmd_fetch", fails)
    assert main(["fetch", "examples", "x"]) == 2
    assert _error(caplog) == "no space left on device while writing /data/somewhere/file.bin"
    assert "Traceback" not in capfd.readouterr().err


# -- which checkpoints count ----------------------------------------------------------------------


def _checkpoint(folder: Path, marked: bool = True, state: str | None = '{"global_step": 2}') -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(b"w" * 100)
    (folder / "optimizer.pt").write_bytes(b"o" * 200)
    if state is not None:
        (folder / "trainer_state.json").write_text(state)
    if marked:
        mark_complete(folder, int(folder.name.split("-")[1]))
    return folder


def _resume(tmp_path: Path, resume) -> str | None:
    cfg = {
        "base_model": str(tmp_path / "model"),
        "datasets": [{"path": "data.jsonl"}],
        "output_dir": str(tmp_path / "out"),
        "resume_from_checkpoint": resume,
    }
    return prepare_output_dir(parse_config(cfg))


def test_resume_latest_takes_the_newest_complete_checkpoint(tmp_path, caplog):
    out = tmp_path / "out"
    good = _checkpoint(out / "checkpoint-2")
    _checkpoint(out / "checkpoint-4", marked=False, state=None)  # killed before trainer_state.json
    cut = _checkpoint(out / "checkpoint-6")
    (cut / "optimizer.pt").write_bytes(b"o" * 50)  # marked, then cut short (a copy that ran out of room)
    _checkpoint(out / "checkpoint-8", marked=False)  # killed after trainer_state.json, before its marker
    with caplog.at_level(logging.WARNING, logger="mmtune"):
        assert _resume(tmp_path, True) == str(good)
    assert caplog.messages == [
        "skipping incomplete checkpoint-8 (no completion marker: the run stopped while saving it); "
        "checkpoint-6 (optimizer.pt is 50 bytes, not the 200 it had when saved); "
        "checkpoint-4 (no completion marker: the run stopped while saving it); resuming from checkpoint-2"
    ]


def test_checkpoints_without_a_marker(tmp_path, caplog):
    """Plain transformers writes no marker: ``latest`` never guesses, an explicit path is trusted
    when its trainer_state.json (the Trainer's last file) is whole, and refused otherwise."""
    out = tmp_path / "out"
    plain = _checkpoint(out / "checkpoint-2", marked=False)
    with pytest.raises(ConfigError) as e:
        _resume(tmp_path, True)
    assert str(e.value) == (
        f"resume_from_checkpoint: true, but {out} has no complete checkpoint: checkpoint-2 (no completion marker: "
        "the run stopped while saving it). A checkpoint written by plain transformers has no marker: give it as "
        "`--resume PATH` to use it"
    )
    with caplog.at_level(logging.WARNING, logger="mmtune"):
        assert _resume(tmp_path, str(plain)) == str(plain)
    assert caplog.messages == [
        f"{plain} has no mmtune completion marker (written by plain transformers?); resuming from it"
    ]

    half = _checkpoint(out / "checkpoint-4", marked=False, state=None)
    with pytest.raises(ConfigError) as e:
        _resume(tmp_path, str(half))
    assert str(e.value) == (
        f"resume_from_checkpoint {half} is not a complete checkpoint folder (no trainer_state.json, which the "
        "Trainer writes last: the run stopped while saving it, or it is not a checkpoint)"
    )
    torn = _checkpoint(out / "checkpoint-6", marked=False, state='{"global_step": ')
    with pytest.raises(ConfigError) as e:
        _resume(tmp_path, str(torn))
    assert (
        str(e.value) == f"resume_from_checkpoint {torn} is an incomplete checkpoint: its trainer_state.json is cut off"
    )


def test_an_explicit_checkpoint_checked_against_its_marker(tmp_path, caplog):
    """A file the marker lists must be there; one whose size changed is only a warning when the
    checkpoint is asked for by name (it may have been edited on purpose; ``latest`` skips it)."""
    ckpt = _checkpoint(tmp_path / "out" / "checkpoint-2")
    assert json.loads((ckpt / MARKER).read_text()) == {
        "step": 2,
        "files": {"adapter_model.safetensors": 100, "optimizer.pt": 200, "trainer_state.json": 18},
    }
    (ckpt / "adapter_model.safetensors").write_bytes(b"w" * 90)
    with caplog.at_level(logging.WARNING, logger="mmtune"):
        assert _resume(tmp_path, str(ckpt)) == str(ckpt)
    assert caplog.messages == [
        f"{ckpt} changed since it was saved (adapter_model.safetensors is 90 bytes, not the 100 it had when "
        "saved); resuming from it"
    ]
    (ckpt / "optimizer.pt").unlink()
    with pytest.raises(ConfigError) as e:
        _resume(tmp_path, str(ckpt))
    assert str(e.value) == f"resume_from_checkpoint {ckpt} is an incomplete checkpoint: optimizer.pt is missing"


# -- a real full filesystem -----------------------------------------------------------------------


@pytest.fixture
def tmpfs():
    """``mount(folder, size)``: a tmpfs of ``size`` at ``folder``; skips where mounting is not allowed."""
    mounted: list[Path] = []

    def mount(folder: Path, size: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root here")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_real_full_filesystem(tiny_ckpt, tmp_path, tmpfs, caplog, capfd):
    """Preprocessed rows (~40 KB: four 56 px images kept as uint8) into a 16 KB tmpfs, then a LoRA
    run's checkpoints (~270 KB each) into a 400 KB one: the second checkpoint fills it (torch.save
    raises a bare RuntimeError there)."""
    cfg = _project(tmp_path, tiny_ckpt("qwen2_vl"))
    prep = tmpfs(tmp_path / "prep", "16k")
    assert main(["preprocess", str(cfg)]) == 2
    assert _error(caplog) == (
        f"no space left on device while saving the preprocessed rows to {prep} (the partial cache was removed); "
        "free space or set dataset_prepared_path to a folder on another disk"
    )
    assert list(prep.iterdir()) == []
    subprocess.run(["mount", "-o", "remount,size=8m", str(prep)], check=True)

    caplog.clear()
    out = tmpfs(tmp_path / "out", "400k")
    assert main(["train", str(cfg)]) == 2
    assert _error(caplog) == (
        f"no space left on device while saving checkpoint {out / 'checkpoint-4'}; the incomplete checkpoint was "
        "removed. Free space, then `mmtune train CONFIG --resume` continues from the last complete checkpoint"
    )
    assert "Traceback" not in capfd.readouterr().err
    assert [c.name for c in checkpoints(out)] == ["checkpoint-2"] and incomplete_reason(out / "checkpoint-2") is None

    subprocess.run(["mount", "-o", "remount,size=8m", str(out)], check=True)
    assert main(["train", str(cfg), "--resume"]) == 0
    assert json.loads((out / "train_metrics.json").read_text())["steps"] == 4
