"""Config keys of the training run: optimizer, schedule, precision, saving and evaluation."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from mmtune.config.base import Strict
from mmtune.errors import ConfigError

# The names eval_metrics accepts (outputs/metrics.py defines each one; loss is the Trainer's own).
EVAL_METRICS = ("loss", "exact_match", "accuracy", "rouge_l", "bleu", "cer", "wer", "anls")


class TrainKeys(Strict):
    # -- training ----------------------------------------------------------------------------
    micro_batch_size: int = Field(1, gt=0, description="Rows per device per step.")
    gradient_accumulation_steps: int = Field(1, gt=0, description="Micro-batches per optimizer step.")
    num_epochs: float = Field(1.0, gt=0, description="Passes over the training rows (max_steps wins when set).")
    max_steps: int | None = Field(None, gt=0, description="Stop after this many optimizer steps.")
    learning_rate: float = Field(2e-4, gt=0, description="Peak learning rate.")
    lr_scheduler: Literal[
        "cosine",
        "linear",
        "constant",
        "constant_with_warmup",
        "cosine_with_restarts",
        "polynomial",
        "inverse_sqrt",
        "reduce_lr_on_plateau",
        "cosine_with_min_lr",
        "cosine_warmup_with_min_lr",
        "warmup_stable_decay",
        "one_cycle",
        "rex",
    ] = Field("cosine", description="Learning-rate schedule after warmup (Axolotl's names; one_cycle and rex too).")
    lr_scheduler_kwargs: dict[str, Any] | None = Field(
        None, description="Extra arguments of the schedule (e.g. min_lr_rate for cosine_with_min_lr)."
    )
    cosine_min_lr_ratio: float | None = Field(
        None, ge=0, le=1, description="cosine (and rex): decay to learning_rate x this instead of 0."
    )
    warmup_steps: int | None = Field(
        None,
        ge=0,
        description="Linear warmup steps. With neither warmup key set: 3% of the steps, at most 100 (Axolotl's rule).",
    )
    warmup_ratio: float | None = Field(
        None, ge=0, lt=1, description="Warmup as a fraction of all steps (warmup_steps wins when both are set)."
    )
    optimizer: str = Field("adamw_torch", description="A transformers optimizer name, e.g. adamw_torch.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, ge=0, description="Gradient clipping norm (0: off).")
    adam_beta1: float | None = Field(None, ge=0, lt=1, description="Adam beta1 (transformers' default 0.9).")
    adam_beta2: float | None = Field(None, ge=0, lt=1, description="Adam beta2 (transformers' default 0.999).")
    adam_epsilon: float | None = Field(None, gt=0, description="Adam epsilon (transformers' default 1e-8).")
    neftune_noise_alpha: float | None = Field(
        None, gt=0, description="NEFTune: uniform noise of this scale on the input embeddings while training."
    )
    tf32: bool | None = Field(None, description="Allow TF32 matmuls on Ampere+ GPUs (no effect on CPU).")
    gradient_checkpointing_kwargs: dict[str, Any] | None = Field(
        None, description="Options of gradient checkpointing, e.g. {use_reentrant: false}."
    )
    ddp_find_unused_parameters: bool | None = Field(
        None, description="DDP: look for parameters without gradients each step (multi-process runs)."
    )
    dataloader_num_workers: int = Field(0, ge=0, description="Worker processes that load training batches.")
    group_by_length: bool = Field(
        False,
        description="Batch rows of similar token length together (less padding per batch; the order stays random "
        "between groups). Uses the lengths cached by preprocessing; no effect with sample_packing.",
    )
    # -- several processes / GPUs (train/distributed.py, docs/distributed.md) ---------------------
    deepspeed: str | None = Field(
        None,
        description="DeepSpeed ZeRO: a DeepSpeed JSON file (relative to the config's folder), or a preset shipped "
        "with mmtune: zero1, zero2, zero3, zero3_offload. Needs `pip install deepspeed` and several processes "
        "(`mmtune train CONFIG --num-processes N`).",
    )
    fsdp: list[str] | str | bool | None = Field(
        None,
        description="Fully Sharded Data Parallel: true, or Axolotl's list of options (full_shard, shard_grad_op, "
        "auto_wrap, offload). fsdp_config or fsdp_version alone turn it on too.",
    )
    fsdp_config: dict[str, Any] | None = Field(
        None,
        description="FSDP settings (Axolotl's names, with or without the fsdp_ prefix): auto_wrap_policy, "
        "transformer_layer_cls_to_wrap (default: the model's decoder layers and vision / audio blocks), "
        "state_dict_type, reshard_after_forward, offload_params, activation_checkpointing, "
        "cpu_ram_efficient_loading, sharding_strategy.",
    )
    fsdp_version: int | None = Field(None, ge=1, le=2, description="FSDP 1 or 2 (default 2, FSDP2).")
    output_dir: str = Field(
        "./model-out",
        description="Where weights/adapter, processor, run card and logs go (empty: Axolotl's ./model-out).",
    )
    seed: int = Field(42, description="Seed for initialisation, shuffling and the validation split.")
    gradient_checkpointing: bool = Field(False, description="Recompute activations in backward to save memory.")
    bf16: bool | Literal["auto"] = Field(False, description="Train in bfloat16 ('auto': when the GPU supports it).")
    add_vision_id: bool = Field(
        False,
        description="Write 'Picture N: ' / 'Video N: ' before each image / video, numbered through the "
        "conversation (the Qwen chat templates' option). An error for families whose template has no such option.",
    )
    fp16: bool | None = Field(
        None,
        description="Mixed precision in float16 on a CUDA GPU without bfloat16 (weights stay float32; autocast "
        "with loss scaling). Ignored, with a warning, on CPU.",
    )
    logging_steps: int = Field(
        10, gt=0, description="Log loss every this many steps (to the report_to loggers and the console)."
    )
    # -- loggers (train/loggers.py, docs/loggers.md) ----------------------------------------------
    report_to: str | list[str] | None = Field(
        None,
        description="Where training metrics go: tensorboard, wandb, mlflow, none, or a list. Unset: TensorBoard, "
        "plus wandb when wandb_project is set and mlflow when mlflow_tracking_uri or mlflow_experiment_name is.",
    )
    wandb_project: str | None = Field(
        None, description="W&B project (WANDB_PROJECT); turns W&B on when report_to is unset."
    )
    wandb_entity: str | None = Field(None, description="W&B team or user (WANDB_ENTITY).")
    wandb_name: str | None = Field(
        None, description="The run's name in W&B and MLflow (the Trainer gives both one run_name)."
    )
    wandb_mode: Literal["online", "offline", "disabled"] | None = Field(
        None, description="W&B mode (WANDB_MODE): offline writes the run locally for a later `wandb sync`."
    )
    mlflow_tracking_uri: str | None = Field(
        None, description="MLflow tracking server or store, e.g. file:///tmp/mlruns (MLFLOW_TRACKING_URI)."
    )
    mlflow_experiment_name: str | None = Field(None, description="MLflow experiment (MLFLOW_EXPERIMENT_NAME).")
    mlflow_run_name: str | None = Field(None, description="The run's name in MLflow when wandb_name is unset.")
    save_steps: float | None = Field(
        None,
        gt=0,
        description="Save a resumable checkpoint every this many steps (below 1: a fraction of all steps). "
        "With neither save key: once per epoch, as Axolotl.",
    )
    saves_per_epoch: int | None = Field(
        None, ge=0, description="Save a checkpoint this many times per epoch (0: only the final save)."
    )
    save_total_limit: int | None = Field(
        None, gt=0, description="Keep only the newest N checkpoints (default 4, as Axolotl)."
    )
    save_only_model: bool = Field(
        False, description="Checkpoints without optimizer and scheduler state (smaller; cannot resume exactly)."
    )
    save_first_step: bool = Field(False, description="Also save a checkpoint after the first step.")
    eval_steps: float | None = Field(
        None,
        gt=0,
        description="Evaluate every this many steps (below 1: a fraction of all steps; default: each epoch).",
    )
    evals_per_epoch: int | None = Field(None, ge=0, description="Evaluate this many times per epoch (0: never).")
    eval_batch_size: int | None = Field(None, gt=0, description="Rows per device per evaluation step.")
    eval_metrics: list[str] | None = Field(
        None,
        description="Metrics logged at each evaluation (eval_<name>) beside the loss: loss, exact_match, accuracy, "
        "rouge_l, bleu, cer, wer, anls. All but loss generate each held-out row's answer (greedy) and compare it "
        "with the reference answer; see docs/evaluate.md.",
    )
    eval_max_new_tokens: int = Field(
        128, gt=0, description="Tokens generated at most per held-out row for the eval_metrics (Axolotl's default)."
    )
    eval_max_samples: int | None = Field(
        None, gt=0, description="Generate for at most this many held-out rows per evaluation (unset: all)."
    )
    load_best_model_at_end: bool = Field(
        False, description="At the end, load the checkpoint with the best metric_for_best_model (needs evaluation)."
    )
    metric_for_best_model: str | None = Field(None, description="Metric of load_best_model_at_end (default: loss).")
    greater_is_better: bool | None = Field(None, description="Whether a larger metric_for_best_model is better.")
    early_stopping_patience: int | None = Field(
        None, gt=0, description="Stop after this many evaluations without improving metric_for_best_model."
    )
    torch_threads: int | None = Field(
        None, ge=1, description="torch intra-op threads; small models on few cores run far faster with 1."
    )
    resume_from_checkpoint: str | bool | None = Field(
        None,
        description="Resume training: a checkpoint-N folder (relative paths from the config's folder), or true "
        "for the latest checkpoint-N in output_dir. `mmtune train CONFIG --resume [PATH|latest]` sets it too.",
    )
    overwrite_output_dir: bool = Field(
        False,
        description="Train into an output_dir that already holds a run (its checkpoint-N folders are removed "
        "first). Without it, such an output_dir is refused unless the run resumes.",
    )

    @field_validator("eval_metrics")
    @classmethod
    def _eval_metrics(cls, v: list[str] | None) -> list[str] | None:
        for name in v or ():
            if name not in EVAL_METRICS:
                raise ConfigError(f"eval_metrics: unknown metric {name!r}; valid: {', '.join(EVAL_METRICS)}")
        return list(dict.fromkeys(v)) if v is not None else None
