"""Training on several processes: DDP through the real CLI, and what DeepSpeed / FSDP turn into.

On this CPU-only machine only DDP (gloo) can run for real. accelerate applies FSDP only to
accelerator devices (``AcceleratorState`` picks ``DistributedType.FSDP`` for multi-GPU/NPU/XPU...
types, never for ``MULTI_CPU``: a CPU run with an FSDP plugin silently trains plain DDP), and
DeepSpeed is not installed. So for those two the tests check what mmtune hands the Trainer, the
wrap policy accelerate builds from it on a real tiny model, and that a CPU run asking for them is
refused before any work; ``bench/gpu_check.sh`` trains them on GPUs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import load_file

from mmtune.cli import main
from mmtune.config import parse_config
from mmtune.errors import ConfigError
from mmtune.train.distributed import (
    PRESETS,
    check_distributed,
    deepspeed_config,
    distributed_args,
    fsdp_config,
    launch_argv,
)

COLORS = ("red", "green", "blue", "white")
REPO = Path(__file__).resolve().parents[1]


def _project(root: Path, ckpt: Path) -> dict:
    (root / "imgs").mkdir(parents=True, exist_ok=True)
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
        for i in range(16)
    ]
    (root / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return {
        "base_model": str(ckpt),
        "datasets": [{"path": "data.jsonl"}],
        "dataset_prepared_path": "prep",
        "learning_rate": 1e-3,
        "warmup_steps": 0,
        "max_steps": 4,
        "logging_steps": 1,
        "saves_per_epoch": 0,
        "val_set_size": 4,  # evaluation batches follow micro_batch_size, like the training ones
        "seed": 7,
        "torch_threads": 1,
    }


def _write(root: Path, name: str, cfg: dict) -> Path:
    (root / name).write_text(yaml.safe_dump(cfg))
    return root / name


def test_ddp_two_processes_match_one_process_with_the_doubled_batch(tiny_ckpt, tmp_path):
    """``--num-processes 2`` x micro batch 1 against one process x micro batch 2: the same rows in
    each optimizer step (accelerate hands consecutive per-device batches of one sampler order to the
    ranks), gradients averaged by DDP instead of over the batch, and the loss averaged over the
    global batch's tokens in both. Only float32 summation order differs: observed gaps are ~1e-7
    relative after 4 Adam steps; 1e-4 leaves room for that, while a wrong shard (another row order,
    or every rank training on every row) moves the loss in the first or second decimal."""
    base = _project(tmp_path, tiny_ckpt("qwen2_vl"))
    one = _write(tmp_path, "one.yaml", {**base, "output_dir": "one", "micro_batch_size": 2})
    two = _write(tmp_path, "two.yaml", {**base, "output_dir": "two", "micro_batch_size": 1})
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    # the two processes preprocess first (the main one builds the cache, the other waits and reads it)
    run = subprocess.run(
        [sys.executable, "-m", "mmtune", "train", str(two), "--num-processes", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=400,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("saved to") == 1, run.stdout  # only the main process reports
    assert run.stderr.count("preprocess:   0%") == 1, "preprocessing ran in more than one process"
    assert main(["train", str(one)]) == 0  # in this process: saves an interpreter start

    got = [json.loads((tmp_path / d / "train_metrics.json").read_text()) for d in ("one", "two")]
    assert got[0]["steps"] == got[1]["steps"] == 4
    assert got[1]["losses"] == pytest.approx(got[0]["losses"], rel=1e-4)
    # the same held-out rows; transformers weighs an evaluation step's loss by the tokens of the global batch,
    # so 2 x 1 rows match 1 x 2 rows (not 1 x 1)
    assert got[1]["eval_loss"] == pytest.approx(got[0]["eval_loss"], rel=1e-4)
    w1, w2 = (load_file(tmp_path / d / "model.safetensors") for d in ("one", "two"))
    assert w1.keys() == w2.keys()
    assert max((w1[k].float() - w2[k].float()).abs().max().item() for k in w1) < 1e-4
    assert not [p for p in (tmp_path / "prep").iterdir() if ".tmp-" in p.name]


def test_fsdp_wraps_decoder_layers_and_vision_blocks(tiny_ckpt, tmp_path):
    """FSDP2 by default; without ``transformer_layer_cls_to_wrap`` accelerate wraps what the model's
    ``_no_split_modules`` names, which transformers gathers from every sub-model."""
    from accelerate.utils import FullyShardedDataParallelPlugin
    from accelerate.utils.fsdp_utils import fsdp2_prepare_auto_wrap_policy
    from transformers import TrainingArguments

    from mmtune.models.families import get_family

    ckpt = tiny_ckpt("qwen2_vl")
    cfg = parse_config({"base_model": str(ckpt), "datasets": [{"path": "x.jsonl"}], "fsdp_version": 2})
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[], **distributed_args(cfg))
    assert args.fsdp_plugin_args["fsdp_version"] == 2
    assert args.fsdp_plugin_args["state_dict_type"] == "FULL_STATE_DICT"  # a final save load_trained reads
    plugin = FullyShardedDataParallelPlugin(**args.fsdp_plugin_args)
    model = get_family("qwen2_vl").load_model(str(ckpt), dtype=torch.float32)
    policy = fsdp2_prepare_auto_wrap_policy(plugin, model)
    wrapped = {type(m).__name__ for m in model.modules() if policy(m)}
    assert wrapped == {"Qwen2VLDecoderLayer", "Qwen2VLVisionBlock"}


def _cfg(**keys) -> object:
    return parse_config({"base_model": "m", "datasets": [{"path": "x.jsonl"}], **keys})


def test_fsdp_keys_translate_into_training_arguments(tmp_path):
    from transformers import TrainingArguments

    axolotl = _cfg(
        fsdp_version=2,
        fsdp_config={
            "fsdp_offload_params": True,
            "fsdp_state_dict_type": "SHARDED_STATE_DICT",
            "fsdp_transformer_layer_cls_to_wrap": "LlamaDecoderLayer, SiglipEncoderLayer",
            "fsdp_sharding_strategy": "SHARD_GRAD_OP",
            "activation_checkpointing": True,
        },
    )
    assert fsdp_config(axolotl) == {
        "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
        "state_dict_type": "SHARDED_STATE_DICT",
        "cpu_offload": True,
        "transformer_layer_cls_to_wrap": ["LlamaDecoderLayer", "SiglipEncoderLayer"],
        "reshard_after_forward": False,
        "activation_checkpointing": True,
        "version": 2,
    }
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[], **distributed_args(axolotl))
    plugin = args.fsdp_plugin_args
    assert plugin["cpu_offload"] is True and plugin["reshard_after_forward"] is False
    assert plugin["transformer_cls_names_to_wrap"] == "LlamaDecoderLayer,SiglipEncoderLayer"
    # the legacy list form, and FSDP1 when asked for
    legacy = fsdp_config(_cfg(fsdp=["full_shard", "auto_wrap", "offload"], fsdp_version=1))
    assert legacy["version"] == 1 and legacy["cpu_offload"] is True and legacy["reshard_after_forward"] is True
    assert distributed_args(_cfg()) == {}  # plain DDP: nothing to add
    with pytest.raises(ConfigError, match="fsdp_config.fsdp_ofload_params"):
        fsdp_config(_cfg(fsdp_config={"fsdp_ofload_params": True}))
    with pytest.raises(ConfigError, match="unknown option 'zero_shard'"):
        fsdp_config(_cfg(fsdp=["zero_shard"]))


@pytest.mark.parametrize("preset,stage", [("zero1", 1), ("zero2", 2), ("zero3", 3), ("zero3_offload", 3)])
def test_deepspeed_presets_translate(preset, stage):
    assert set(PRESETS) == {"zero1", "zero2", "zero3", "zero3_offload"}
    ds = distributed_args(_cfg(deepspeed=preset))["deepspeed"]
    assert ds["zero_optimization"]["stage"] == stage
    # batch sizes, accumulation, clipping and precision come from the config through the Trainer
    for key in ("train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "gradient_clipping"):
        assert ds[key] == "auto"
    assert ds["bf16"]["enabled"] == ds["fp16"]["enabled"] == "auto"
    if stage == 3:  # the final save gathers full weights, which load_trained reads
        assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True
    offloaded = preset.endswith("offload")
    assert ("offload_optimizer" in ds["zero_optimization"]) is offloaded
    # Axolotl's configs name its repository's files: the preset of the same name stands in
    assert deepspeed_config(f"deepspeed_configs/{preset}.json") == ds


def test_deepspeed_file_and_refusals(tmp_path, caplog):
    own = tmp_path / "ds.json"
    own.write_text(json.dumps({"zero_optimization": {"stage": 2}, "train_micro_batch_size_per_gpu": "auto"}))
    assert distributed_args(_cfg(deepspeed=str(own)))["deepspeed"]["zero_optimization"] == {"stage": 2}
    with pytest.raises(ConfigError, match="neither a DeepSpeed JSON file nor a preset"):
        deepspeed_config("zero4")
    with pytest.raises(ConfigError, match="set one of them"):
        check_distributed(_cfg(deepspeed="zero2", fsdp=True))
    try:
        import deepspeed  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="pip install deepspeed"):
            check_distributed(_cfg(deepspeed="zero2"))
        # through the CLI: refused before preprocessing or launching anything
        cfg = _write(tmp_path, "ds.yaml", {"base_model": "m", "datasets": [{"path": "x.jsonl"}], "deepspeed": "zero2"})
        assert main(["train", str(cfg), "--num-processes", "2"]) == 2
    if not torch.cuda.is_available():
        # an Axolotl FSDP config still trains on a CPU, unsharded (as its other GPU-only keys), and says so
        check_distributed(_cfg(fsdp_version=2))
        assert "training unsharded on this CPU" in caplog.text
        assert distributed_args(_cfg(fsdp_version=2), gpu=False) == {}


def test_launch_arguments():
    assert launch_argv(["train", "/c.yaml"], 2) == [
        "--nproc-per-node=2",
        "--nnodes=1",
        "--node-rank=0",
        "--standalone",
        "-m",
        "mmtune",
        "train",
        "/c.yaml",
    ]
    two = launch_argv(["train", "/c.yaml"], 8, 2, 1, "10.0.0.1", 29600)
    assert two[:5] == [
        "--nproc-per-node=8",
        "--nnodes=2",
        "--node-rank=1",
        "--master-addr=10.0.0.1",
        "--master-port=29600",
    ]
    with pytest.raises(ConfigError, match="main-process-ip"):
        launch_argv(["train", "/c.yaml"], 8, 2, 1)


def test_gpu_check_configs_parse(tmp_path):
    """bench/gpu_check.sh writes one config per check; each must be a config mmtune accepts."""
    run = subprocess.run(
        ["bash", str(REPO / "bench" / "gpu_check.sh"), "--configs-only", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    from mmtune.config import load_config

    made = sorted(tmp_path.glob("*/*.yaml"))
    assert len(made) >= 3 * 6, [p.name for p in made]
    for p in made:
        load_config(p)


@pytest.mark.parametrize(("keys", "how"), [({"fsdp_version": 2}, "fsdp"), ({"deepspeed": "zero3"}, "DeepSpeed ZeRO-3")])
def test_generated_eval_metrics_refused_where_no_process_holds_the_model(keys, how):
    with pytest.raises(ConfigError) as e:
        check_distributed(_cfg(val_set_size=2, eval_metrics=["loss", "exact_match", "cer"], **keys))
    assert str(e.value) == (
        f"eval_metrics exact_match, cer generate answers on one process, and with {how} no process holds the "
        "whole model; keep eval_metrics: [loss] for training and run `mmtune evaluate OUTPUT_DIR` on the saved model"
    )
    # ZeRO-2 keeps whole parameters on every process: generation works there
    if "deepspeed" in keys:
        try:
            check_distributed(_cfg(val_set_size=2, eval_metrics=["exact_match"], deepspeed="zero2"))
        except ConfigError as other:
            assert "eval_metrics" not in str(other)
