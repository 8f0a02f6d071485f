"""report_to and Axolotl's W&B / MLflow keys: the metrics of a tiny run arrive in each logger."""

from __future__ import annotations

import json
import struct
import sys
import time
from pathlib import Path

import pytest
from family_checks import one_media_conversation, run_training, tiny_config, write_jsonl, write_two_images

from mmtune.errors import ConfigError
from mmtune.train.loggers import check_loggers, logger_env, report_to

FAMILY = "qwen2_vl"
ENV = ("WANDB_PROJECT", "WANDB_ENTITY", "WANDB_MODE", "WANDB_NAME", "WANDB_DIR")
ENV += ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """The run sets the loggers' variables in this process: undo them after each test."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def _cfg(tmp_path, **keys):
    return tiny_config(tmp_path, write_jsonl(tmp_path / "d.jsonl", [{"messages": []}]), tmp_path, **keys)


def wandb_records(path: Path) -> list:
    """The records of an offline W&B run file: a 7-byte header (":W&B", magic, version), then LevelDB's
    log format (32 KiB blocks of chunks: crc32c, little-endian length, type 1 full / 2 first / 3 middle /
    4 last), each record a ``wandb_internal_pb2.Record``. wandb 0.31 writes no files/wandb-summary.json
    offline, so the test reads what `wandb sync` would upload."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, chunk, out = 7, 32768, b"", []
    while pos + 7 <= len(data):
        left = block - pos % block
        length, kind = struct.unpack("<HB", data[pos + 4 : pos + 7])
        if left < 7 or (length == 0 and kind == 0):  # a block's zero-filled trailer
            pos += left
            continue
        chunk += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            out.append(record)
            chunk = b""
    return out


def finished_run(wandb_dir: Path, timeout: float = 30.0) -> list:
    """The records of the one offline run under ``wandb_dir``, once complete: W&B's service process
    writes the file, and may finish writing a moment after ``wandb.finish()`` returns."""
    deadline = time.monotonic() + timeout
    while True:
        files = list(wandb_dir.glob("offline-run-*/run-*.wandb"))
        assert len(files) <= 1, files
        try:
            records = wandb_records(files[0]) if files else []
        except Exception:  # read while the last record was being written: read again
            records = []
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def _rows(tmp_path):
    a, _ = write_two_images(tmp_path)
    return [one_media_conversation("image", a, "What color is it?", "red")] * 2


def test_report_to_defaults_lists_and_refusals(tmp_path, monkeypatch):
    assert report_to(_cfg(tmp_path)) == ["tensorboard"]
    # Axolotl's keys turn their tracker on when report_to is unset
    assert report_to(_cfg(tmp_path, wandb_project="p", mlflow_experiment_name="e")) == [
        "tensorboard",
        "wandb",
        "mlflow",
    ]
    assert report_to(_cfg(tmp_path, report_to="none", wandb_project="p")) == []
    assert report_to(_cfg(tmp_path, report_to=["wandb", "mlflow"])) == ["wandb", "mlflow"]
    with pytest.raises(ConfigError) as e:
        report_to(_cfg(tmp_path, report_to=["tensorboard", "comet"]))
    assert str(e.value) == "report_to: unknown logger 'comet'; choose from tensorboard, wandb, mlflow, none"
    cfg = _cfg(tmp_path, wandb_project="p", wandb_entity="team", wandb_mode="offline", mlflow_tracking_uri="file:///x")
    assert logger_env(cfg) == {
        "WANDB_PROJECT": "p",
        "WANDB_ENTITY": "team",
        "WANDB_MODE": "offline",
        "MLFLOW_TRACKING_URI": "file:///x",
    }
    monkeypatch.setitem(sys.modules, "wandb", None)  # how Python marks a package as not importable
    with pytest.raises(ConfigError) as e:
        check_loggers(_cfg(tmp_path, report_to="wandb"))
    assert (
        str(e.value) == "report_to wandb needs the wandb package: pip install wandb (or pip install 'mmtune[loggers]')"
    )


def test_wandb_offline_run_records_the_training_loss(tiny_ckpt, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wb"))
    (tmp_path / "wb").mkdir()
    result = run_training(
        tiny_ckpt(FAMILY),
        _rows(tmp_path),
        tmp_path,
        max_steps=2,
        saves_per_epoch=0,
        report_to="wandb",
        wandb_project="mmtune-tests",
        wandb_name="tiny-run",
        wandb_mode="offline",
    )
    records = finished_run(tmp_path / "wb" / "wandb")
    (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert (run.project, run.display_name) == ("mmtune-tests", "tiny-run")
    history = [r.history.item for r in records if r.HasField("history")]
    steps = [{i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in items} for items in history]
    losses = [s["train/loss"] for s in steps if "train/loss" in s]
    assert [s["train/global_step"] for s in steps if "train/loss" in s] == [1, 2]
    assert losses == pytest.approx(result.losses, rel=1e-4)
    assert not (result.output_dir / "runs").exists()  # report_to names W&B alone: no TensorBoard files


def test_mlflow_file_store_holds_the_loss_history(tiny_ckpt, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    uri = f"file://{tmp_path / 'mlruns'}"
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(ConfigError) as e:  # MLflow 3 refuses a file store unless told: said before training
        check_loggers(_cfg(tmp_path, mlflow_tracking_uri=uri))
    assert str(e.value).startswith(f"mlflow_tracking_uri {uri}: The filesystem tracking backend")
    assert "MLFLOW_ALLOW_FILE_STORE=true" in str(e.value)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    result = run_training(
        tiny_ckpt(FAMILY),
        _rows(tmp_path),
        tmp_path,
        max_steps=2,
        saves_per_epoch=0,
        mlflow_tracking_uri=uri,
        mlflow_experiment_name="tiny",
        mlflow_run_name="tiny-run",
    )
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert run.info.run_name == "tiny-run"
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == [1, 2]
    assert [m.value for m in history] == pytest.approx(result.losses, rel=1e-4)
    assert any((result.output_dir / "runs").rglob("events.out.tfevents.*"))  # TensorBoard stays on by default
