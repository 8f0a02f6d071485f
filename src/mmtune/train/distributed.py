"""Training on several processes: the launcher, rank-aware steps, and Axolotl's DeepSpeed / FSDP keys.

A distributed run is the ordinary ``mmtune train`` in every process: ``accelerate launch -m mmtune
train CONFIG`` and ``torchrun -m mmtune train CONFIG`` start it as they start any script, and
``mmtune train CONFIG --num-processes N`` starts torch's own launcher (``torch.distributed.run``,
which ``accelerate launch`` itself runs underneath) so no second command is needed. Each process
then reads its rank from the environment the launcher sets; the Trainer shards the batches, and
``deepspeed`` / ``fsdp`` only add fields to ``TrainingArguments`` (translated here, so a config is
checked before any preprocessing, and the translation is testable without a GPU or DeepSpeed).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mmtune.config import Config
from mmtune.errors import ConfigError

log = logging.getLogger("mmtune")

PRESET_DIR = Path(__file__).with_name("deepspeed")
PRESETS = tuple(sorted(p.stem for p in PRESET_DIR.glob("*.json")))

# Axolotl's fsdp_config keys (``fsdp_`` prefix dropped) -> transformers' fsdp_config keys. Anything
# else is refused: a misspelt sharding option would otherwise train with the default silently.
_FSDP_KEYS = {
    "version": "version",
    "auto_wrap_policy": "auto_wrap_policy",
    "transformer_layer_cls_to_wrap": "transformer_layer_cls_to_wrap",
    "min_num_params": "min_num_params",
    "state_dict_type": "state_dict_type",
    "reshard_after_forward": "reshard_after_forward",
    "offload_params": "cpu_offload",
    "cpu_offload": "cpu_offload",
    "activation_checkpointing": "activation_checkpointing",
    "cpu_ram_efficient_loading": "cpu_ram_efficient_loading",
    "sync_module_states": "sync_module_states",
    "use_orig_params": "use_orig_params",
    "limit_all_gathers": "limit_all_gathers",
    "forward_prefetch": "forward_prefetch",
    "backward_prefetch": "backward_prefetch",
}
# Axolotl's FSDP1 sharding strategies, as FSDP2 expresses them (parameters resharded after forward or not).
_SHARDING = {"FULL_SHARD": True, "HYBRID_SHARD": True, "SHARD_GRAD_OP": False, "_HYBRID_SHARD_ZERO2": False}
# The legacy list form of ``fsdp`` (``[full_shard, auto_wrap]``): what each word sets.
_FSDP_WORDS: dict[str, dict[str, Any]] = {
    "full_shard": {"reshard_after_forward": True},
    "shard_grad_op": {"reshard_after_forward": False},
    "hybrid_shard": {"reshard_after_forward": True},
    "auto_wrap": {"auto_wrap_policy": "TRANSFORMER_BASED_WRAP"},
    "offload": {"cpu_offload": True},
}


# -- ranks ---------------------------------------------------------------------------------------
def world_size() -> int:
    """Processes of this run, as the launcher (torchrun, accelerate, DeepSpeed) set it; 1 when launched plainly."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0 of the whole job (the one that logs and writes files), or the only process."""
    return os.environ.get("RANK", "0") == "0"


@contextmanager
def main_process_first() -> Iterator[None]:
    """The main process runs the block first (preprocessing into the cache); the other ranks wait at
    a barrier, then run it too and find the cache it wrote. Nothing to wait for in one process.

    If the main process fails inside the block it never reaches the barrier; the launcher (torchrun)
    then stops the waiting ranks, so the job ends with the main process's error.
    """
    if world_size() <= 1:
        yield
        return
    import torch
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())
    with state.main_process_first():
        yield


# -- DeepSpeed -----------------------------------------------------------------------------------
def deepspeed_config(value: str) -> dict[str, Any]:
    """The DeepSpeed JSON a ``deepspeed:`` value names: a shipped preset (``zero2``), or a file.

    Axolotl's own configs point at its repository's ``deepspeed_configs/zero2.json``; such a path
    that does not exist here but is named like a preset takes the preset, with a note.
    """
    path = Path(os.path.expanduser(value))
    if value in PRESETS:
        path = PRESET_DIR / f"{value}.json"
    elif not path.is_file() and path.stem in PRESETS:
        log.info("deepspeed: %s does not exist; using mmtune's %s preset", value, path.stem)
        path = PRESET_DIR / f"{path.stem}.json"
    if not path.is_file():
        raise ConfigError(f"deepspeed: {value} is neither a DeepSpeed JSON file nor a preset ({', '.join(PRESETS)})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"deepspeed: {path} is not readable JSON ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"deepspeed: {path} must hold a JSON object")
    return data


def resolve_deepspeed_path(cfg: Config, base_dir: Path) -> Config:
    """A relative ``deepspeed:`` path read from the config file's folder, like its other paths."""
    ds = cfg.deepspeed
    if not ds or ds in PRESETS or Path(os.path.expanduser(ds)).is_absolute():
        return cfg
    cand = base_dir / ds
    return cfg.model_copy(update={"deepspeed": str(cand)}) if cand.is_file() else cfg


# -- FSDP ----------------------------------------------------------------------------------------
def fsdp_enabled(cfg: Config) -> bool:
    return bool(cfg.fsdp) or bool(cfg.fsdp_config) or cfg.fsdp_version is not None


def fsdp_config(cfg: Config) -> dict[str, Any]:
    """transformers' ``fsdp_config`` for Axolotl's ``fsdp`` / ``fsdp_config`` / ``fsdp_version``.

    FSDP2 unless told otherwise; decoder layers and vision / audio blocks are wrapped each in their
    own shard group by class name. Without ``transformer_layer_cls_to_wrap`` the names come from the
    model's ``_no_split_modules``, which transformers gathers from every sub-model (e.g. qwen2_vl:
    ``Qwen2VLDecoderLayer`` and ``Qwen2VLVisionBlock``), so families need not list them. The final
    save is a full state dict, which ``load_trained`` reads like any other output.
    """
    out: dict[str, Any] = {"auto_wrap_policy": "TRANSFORMER_BASED_WRAP", "state_dict_type": "FULL_STATE_DICT"}
    words = [cfg.fsdp] if isinstance(cfg.fsdp, str) else list(cfg.fsdp) if isinstance(cfg.fsdp, list) else []
    for w in (x for word in words for x in word.split()):
        if w not in _FSDP_WORDS:
            raise ConfigError(f"fsdp: unknown option {w!r}; known: {', '.join(_FSDP_WORDS)}")
        out.update(_FSDP_WORDS[w])
    for key, value in (cfg.fsdp_config or {}).items():
        name = key.removeprefix("fsdp_")
        if name == "sharding_strategy":
            if str(value).upper() not in _SHARDING:
                raise ConfigError(f"fsdp_config.{key}: {value!r} is not one of {', '.join(_SHARDING)}")
            out["reshard_after_forward"] = _SHARDING[str(value).upper()]
        elif name in _FSDP_KEYS:
            out[_FSDP_KEYS[name]] = value
        else:
            raise ConfigError(f"fsdp_config.{key} is not an FSDP setting mmtune knows; known: {', '.join(_FSDP_KEYS)}")
    version = int(cfg.fsdp_version or out.get("version") or 2)
    if version not in (1, 2):
        raise ConfigError(f"fsdp_version: {version} (FSDP has versions 1 and 2)")
    out["version"] = version
    if isinstance(out.get("transformer_layer_cls_to_wrap"), str):
        out["transformer_layer_cls_to_wrap"] = [s.strip() for s in out["transformer_layer_cls_to_wrap"].split(",")]
    return out


# -- both ----------------------------------------------------------------------------------------
def launched() -> bool:
    """Whether a launcher (torchrun, accelerate, DeepSpeed) started this process, even as its only one."""
    return "LOCAL_RANK" in os.environ


def check_distributed(cfg: Config, processes: int | None = None) -> None:
    """What would fail, or silently not shard, only once training starts, found before preprocessing:
    DeepSpeed not installed, DeepSpeed and FSDP both asked for, an unreadable DeepSpeed file, an
    unknown FSDP key, FSDP without a GPU. ``processes``: the run is about to be launched with that many.

    accelerate applies FSDP only to accelerator devices: on CPU processes it sets up plain DDP and
    drops the FSDP plugin without a word. An Axolotl config with FSDP keys still runs on a CPU (as
    other GPU-only keys do), unsharded and with a warning saying so; DeepSpeed cannot run at all
    there and is refused. FSDP without a launcher is one plain process, sharding nothing: a warning
    too.
    """
    if cfg.deepspeed and fsdp_enabled(cfg):
        raise ConfigError("deepspeed and fsdp are two ways to shard a model; set one of them")
    if not (cfg.deepspeed or fsdp_enabled(cfg)):
        return
    generated = [m for m in cfg.eval_metrics or () if m != "loss"]
    if generated and (fsdp_enabled(cfg) or _zero3(cfg)):
        # the answers are generated on the main process alone, which holds only its shard of the model
        raise ConfigError(
            f"eval_metrics {', '.join(generated)} generate answers on one process, and with "
            f"{'fsdp' if fsdp_enabled(cfg) else 'DeepSpeed ZeRO-3'} no process holds the whole model; keep "
            "eval_metrics: [loss] for training and run `mmtune evaluate OUTPUT_DIR` on the saved model"
        )
    if cfg.deepspeed:
        deepspeed_config(cfg.deepspeed)
        if importlib.util.find_spec("deepspeed") is None:
            raise ConfigError(f"deepspeed: {cfg.deepspeed} needs the DeepSpeed package: pip install deepspeed")
    else:
        fsdp_config(cfg)
    import torch

    if not torch.cuda.is_available():
        if cfg.deepspeed:
            raise ConfigError("deepspeed trains on GPUs and none is visible; remove the key to train on this CPU")
        log.warning("fsdp shards a model across GPUs and none is visible: training unsharded on this CPU")
        return
    if fsdp_enabled(cfg) and processes is None and not launched():
        log.warning(
            "fsdp takes effect with several processes: `mmtune train CONFIG --num-processes N` (this run is one "
            "plain process, unsharded)"
        )


def _zero3(cfg: Config) -> bool:
    """Whether the DeepSpeed config shards the parameters themselves (ZeRO stage 3)."""
    if not cfg.deepspeed:
        return False
    zero = deepspeed_config(cfg.deepspeed).get("zero_optimization") or {}
    return str(zero.get("stage", 0)) == "3"


def distributed_args(cfg: Config, gpu: bool = True) -> dict[str, Any]:
    """The ``TrainingArguments`` fields of ``deepspeed`` / ``fsdp`` (none for plain DDP, which the
    Trainer sets up by itself whenever a launcher started several processes). ``gpu`` False: no
    FSDP fields, so a CPU run trains exactly as without the keys (``check_distributed`` warned)."""
    if cfg.deepspeed:
        return {"deepspeed": deepspeed_config(cfg.deepspeed)}
    if fsdp_enabled(cfg) and gpu:
        return {"fsdp": True, "fsdp_config": fsdp_config(cfg)}
    return {}


# -- launch --------------------------------------------------------------------------------------
def launch_argv(
    args: list[str],
    num_processes: int,
    num_machines: int = 1,
    machine_rank: int = 0,
    main_process_ip: str | None = None,
    main_process_port: int | None = None,
) -> list[str]:
    """``torch.distributed.run`` arguments that start ``mmtune <args>`` in ``num_processes`` processes
    per machine. One machine without an address: a standalone rendezvous on a free local port."""
    if num_processes < 1 or num_machines < 1 or not 0 <= machine_rank < num_machines:
        raise ConfigError("--num-processes and --num-machines must be at least 1, --machine-rank below --num-machines")
    if num_machines > 1 and not main_process_ip:
        raise ConfigError("--num-machines above 1 needs --main-process-ip (the address of machine 0)")
    argv = [f"--nproc-per-node={num_processes}", f"--nnodes={num_machines}", f"--node-rank={machine_rank}"]
    if main_process_ip or main_process_port:
        argv += [f"--master-addr={main_process_ip or '127.0.0.1'}", f"--master-port={main_process_port or 29500}"]
    else:
        argv.append("--standalone")
    return [*argv, "-m", "mmtune", *args]


def launch(argv: list[str]) -> int:
    """Run torch's launcher in this process; its exit code (the first failed rank's, else 0)."""
    if world_size() > 1:
        raise ConfigError("--num-processes inside a process a launcher already started; drop one of them")
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    log.info("launching: torchrun %s", " ".join(argv))
    sys.stdout.flush()
    try:
        torchrun(argv)
    except ChildFailedError as e:
        codes = [f.exitcode for f in e.failures.values() if f.exitcode]
        return codes[0] if codes else 1
    return 0
