"""Config keys of the training run: optimizer, schedule, precision, saving and evaluation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mmtune.config.base import Strict


class TrainKeys(Strict):
    # -- training ----------------------------------------------------------------------------
    micro_batch_size: int = Field(1, gt=0, description="Rows per device per step.")
    gradient_accumulation_steps: int = Field(1, gt=0, description="Micro-batches per optimizer step.")
    num_epochs: float = Field(1.0, gt=0, description="Passes over the training rows (max_steps wins when set).")
    max_steps: int | None = Field(None, gt=0, description="Stop after this many optimizer steps.")
    learning_rate: float = Field(2e-4, gt=0, description="Peak learning rate.")
    lr_scheduler: Literal[
        "cosine", "linear", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial"
    ] = Field("cosine", description="Learning-rate schedule after warmup.")
    warmup_steps: int = Field(0, ge=0, description="Linear warmup steps.")
    warmup_ratio: float | None = Field(
        None, ge=0, lt=1, description="Warmup as a fraction of all steps (wins over warmup_steps)."
    )
    optimizer: str = Field("adamw_torch", description="A transformers optimizer name, e.g. adamw_torch.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, ge=0, description="Gradient clipping norm (0: off).")
    output_dir: str = Field("./outputs/run", description="Where weights/adapter, processor, run card and logs go.")
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
    logging_steps: int = Field(10, gt=0, description="Log loss every this many steps (TensorBoard + console).")
    save_steps: int | None = Field(None, gt=0, description="Save a resumable checkpoint every this many steps.")
    eval_steps: int | None = Field(None, gt=0, description="Evaluate every this many steps (default: each epoch).")
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
