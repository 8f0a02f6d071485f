"""``mmtune merge``: fold a LoRA adapter into its base weights, as one folder ``from_pretrained`` loads.

Serving stacks (vLLM, TGI, plain transformers without peft) want one set of weights. The merged
folder also keeps what makes it an mmtune output (processor, chat template, a run card with the
training-time preprocessing and no adapter), so ``mmtune predict`` / ``chat`` / ``evaluate`` work
on it unchanged. The base is loaded in float32 and the adapter merged there (peft's
``merge_and_unload``), then cast to the dtype asked for: merging in low precision would round the
small LoRA update away before it reached the weights.
"""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import replace
from pathlib import Path

import torch

from mmtune.errors import MmtuneError
from mmtune.outputs.load import load_trained
from mmtune.outputs.model_card import write_model_card
from mmtune.outputs.runcard import RUN_CARD, RunCard

log = logging.getLogger("mmtune")

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}

# Processor / tokenizer files a family may need beyond what the processor's ``save_pretrained`` writes
# (e.g. tekken.json, a sentencepiece .model); the run's own files (metrics, reports) stay behind.
_PROCESSOR_FILE = re.compile(r"token|processor|chat_template|tekken|vocab|merges|\.model$|\.tiktoken$")


def default_dtype(card: RunCard) -> str:
    """The run's training dtype: bf16 when the run trained in bfloat16, else fp32."""
    return "bf16" if card.config.get("bf16") in (True, "auto") else "fp32"


def merge_output(
    output_dir: str | Path, to: str | Path | None = None, dtype: str | None = None, overwrite: bool = False
) -> Path:
    """Merge the adapter of ``output_dir`` into its base model and save the result to ``to``
    (default ``output_dir/merged``); returns the folder. ``overwrite``: replace an earlier merged
    model there (``merge_lora`` after a run retrained into the same output_dir)."""
    out = Path(output_dir)
    card = RunCard.load(out)
    if not card.adapter:
        raise MmtuneError(
            f"{out} has no adapter to merge (a full fine-tune, or a merged model): its weights are complete; "
            f"load the folder itself with from_pretrained or `mmtune predict {out}`"
        )
    dtype = dtype or default_dtype(card)
    if dtype not in DTYPES:
        raise MmtuneError(f"--dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    dest = Path(to) if to is not None else out / "merged"
    if dest.resolve() == out.resolve():
        raise MmtuneError(f"--to {dest}: the merged model needs its own folder, not the output folder")
    if overwrite and (dest / RUN_CARD).is_file():
        shutil.rmtree(dest)
    if dest.exists() and any(dest.iterdir()):
        raise MmtuneError(f"{dest} already exists and is not empty; remove it or choose another --to")
    log.info("merging the %s adapter of %s into %s (%s)", card.adapter, out, card.base_model, dtype)
    trained = load_trained(out)
    model = trained.model.merge_and_unload().to(DTYPES[dtype])
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dest)
    trained.processor.save_pretrained(dest)
    for f in out.iterdir():
        if f.is_file() and _PROCESSOR_FILE.search(f.name) and not (dest / f.name).exists():
            shutil.copy2(f, dest / f.name)
    # Same base model and preprocessing (its provenance), no adapter: load_trained reads the folder whole.
    merged = replace(card, adapter=None)
    merged.save(dest)
    write_model_card(dest, merged, merged_from=out)
    log.info("merged model saved to %s", dest)
    return dest
