"""``output_dir/README.md``: what was trained, on what, how well, and how to load it.

peft's ``save_pretrained`` writes an empty template ("More Information Needed") into the folder;
this card replaces it after the weights are saved, from what the folder itself holds (the run
card, ``train_metrics.json``, ``eval_results.json``), so a folder copied to a hub repository or a
colleague explains itself. Hub front matter (``base_model``, ``library_name``, ``tags``) keeps the
hub's model tree and widgets working.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mmtune.models.families import get_family
from mmtune.outputs.runcard import RunCard

_HYPER = (
    "learning_rate",
    "lr_scheduler",
    "warmup_steps",
    "warmup_ratio",
    "num_epochs",
    "max_steps",
    "micro_batch_size",
    "gradient_accumulation_steps",
    "optimizer",
    "weight_decay",
    "max_grad_norm",
    "sequence_len",
    "bf16",
    "fp16",
    "gradient_checkpointing",
    "sample_packing",
    "val_set_size",
    "seed",
)
_LORA = ("lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "lora_target_linear", "lora_modules_to_save")
_DATA = (
    ("rows_read", "rows read"),
    ("rows_kept", "rows kept"),
    ("rows_dropped", "rows dropped"),
    ("tokens", "tokens"),
    ("supervised_tokens", "supervised tokens"),
    ("media", "media items"),
)
_EXAMPLE_MEDIA = {
    "image": ("photo.jpg", "Describe the image."),
    "audio": ("clip.wav", "Transcribe the audio."),
    "video": ("clip.mp4", "Describe the video."),
}


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list | tuple):
        return ", ".join(map(str, v)) or "-"
    return str(v)


def _evaluation(evals: dict, base: dict) -> list[str]:
    """``mmtune evaluate``'s results (eval_results.json, and eval_results_base.json for the base model
    when it was evaluated too) as one table: the metric, before and after training."""
    metrics = evals.get("metrics") or {}
    if not isinstance(metrics, dict) or not metrics:
        return []
    before = base.get("metrics") if isinstance(base.get("metrics"), dict) else {}
    where = f" on `{evals['data']}`" if evals.get("data") else ""
    lines = ["", "## Evaluation", "", f"`mmtune evaluate`, {evals.get('rows', '?')} rows{where}:", ""]
    if before:
        lines += ["| metric | base model | trained |", "|---|---|---|"]
        lines += [f"| {k} | {_fmt(before.get(k, '-'))} | {_fmt(v)} |" for k, v in metrics.items()]
    else:
        lines += _table(list(metrics.items()), ("metric", "value"))
    return lines


def _table(rows: list[tuple[str, Any]], head: tuple[str, str]) -> list[str]:
    return [f"| {head[0]} | {head[1]} |", "|---|---|", *(f"| {k} | {_fmt(v)} |" for k, v in rows)]


def render_model_card(
    card: RunCard, metrics: dict, evals: dict, folder: str, merged_from: str | None = None, base: dict | None = None
) -> str:
    """The card's markdown. ``metrics``: train_metrics.json; ``evals`` / ``base``: eval_results.json and
    eval_results_base.json ({} where absent)."""
    cfg = card.config
    adapter = card.adapter
    library = "peft" if adapter else "transformers"
    tags = ["mmtune", card.family, *([adapter] if adapter else [])]
    lines = ["---", f"base_model: {card.base_model}", f"library_name: {library}", "tags:"]
    lines += [f"- {t}" for t in tags] + ["---", ""]
    title = Path(folder).name or folder
    lines += [f"# {title}", ""]
    if merged_from:
        what = f"the {cfg.get('adapter')} adapter of `{merged_from}` merged into the base weights (one set of weights)"
    elif adapter:
        what = f"a {adapter} adapter on the base model"
    else:
        what = "a full fine-tune (all weights saved)"
    lines += [
        f"Fine-tuned with mmtune {card.version}: {what}.",
        "",
        f"- **Base model:** `{card.base_model}`",
        f"- **Model family:** {card.family}",
        f"- **Training:** {what}",
        "",
    ]
    if cfg.get("adapter") and (adapter or merged_from):
        lora = [(k, cfg[k]) for k in _LORA if cfg.get(k) not in (None, [], False)]
        lines += ["## Adapter", "", *_table(lora, ("setting", "value")), ""]
    lines += ["## Data", ""]
    for d in cfg.get("datasets") or []:
        kind = d.get("type") or "chat_template"
        split = f", split {d['split']}" if d.get("split") else ""
        lines.append(f"- `{d.get('path')}` ({kind}{split})")
    counts = [(label, metrics[f"data_{k}"]) for k, label in _DATA if f"data_{k}" in metrics]
    if counts:
        lines += ["", *_table(counts, ("rows and tokens", "count"))]
    lines += ["", "## Hyperparameters", ""]
    lines += _table([(k, cfg[k]) for k in _HYPER if cfg.get(k) is not None], ("key", "value"))
    results = [
        (k, metrics[k]) for k in ("train_loss", "first_loss", "last_loss", "steps", "train_seconds") if k in metrics
    ]
    # the held-out evaluation at the end of training: eval_loss and any eval_metrics
    results += [(k, v) for k, v in metrics.items() if k.startswith("eval_") and isinstance(v, int | float)]
    if results:
        lines += ["", "## Training results", "", *_table(results, ("metric", "value"))]
    lines += _evaluation(evals, base or {})
    lines += ["", "## How to use it", "", "With mmtune (the training-time preprocessing, from `mmtune_run.json`):", ""]
    family = get_family(card.family)
    kind = next((k for k in ("image", "audio", "video") if k in family.modalities), "image")
    example = _EXAMPLE_MEDIA[kind]
    lines += ["```bash", f"mmtune predict {folder} --{kind} {example[0]} --prompt '{example[1]}'", "```", ""]
    auto = family.auto_model_class
    lines += ["With transformers:", "", "```python", f"from transformers import AutoProcessor, {auto}"]
    if adapter:
        lines += [
            "from peft import PeftModel",
            "",
            f'processor = AutoProcessor.from_pretrained("{folder}")',
            f'model = PeftModel.from_pretrained({auto}.from_pretrained("{card.base_model}"), "{folder}")',
            "```",
            "",
            f"`mmtune merge {folder}` writes a merged copy that loads without peft.",
        ]
    else:
        lines += [
            "",
            f'processor = AutoProcessor.from_pretrained("{folder}")',
            f'model = {auto}.from_pretrained("{folder}")',
            "```",
        ]
    return "\n".join(lines) + "\n"


def write_model_card(out_dir: str | Path, card: RunCard | None = None, merged_from: str | Path | None = None) -> Path:
    """Write ``out_dir/README.md`` (replacing peft's template); metrics come from the folder, or from
    ``merged_from`` for a merged copy of an output."""
    out = Path(out_dir)
    card = card or RunCard.load(out)
    source = Path(merged_from) if merged_from is not None else out
    metrics = _read_json(source / "train_metrics.json")
    evals, base = _read_json(source / "eval_results.json"), _read_json(source / "eval_results_base.json")
    merged = str(merged_from) if merged_from is not None else None
    text = render_model_card(card, metrics, evals, str(out), merged, base)
    path = out / "README.md"
    path.write_text(text)
    return path
