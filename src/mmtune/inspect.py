"""``mmtune inspect``: see exactly which tokens are trained on, before spending compute."""

from __future__ import annotations

import json

from rich.console import Console
from rich.text import Text

from mmtune.config import load_config
from mmtune.preprocess.pipeline import prepare, settings_from_config


def _piece(tok, ids: list[int], i: int) -> str:  # noqa: ANN001 - any tokenizer
    """The text token ``i`` adds, decoded in context: SentencePiece tokenizers drop a word's
    leading space when a token is decoded alone."""
    ctx = ids[max(0, i - 8) : i]
    return tok.decode(ctx + [ids[i]])[len(tok.decode(ctx)) :]


def inspect_rows(config_path: str, rows: int = 3, as_json: bool = False) -> int:
    cfg = load_config(config_path)
    settings, processor = settings_from_config(cfg)
    prep = prepare(cfg, settings, processor=processor)
    ds = prep.dataset.select(range(min(rows, len(prep.dataset))))
    if as_json:
        out = [{"dataset": r["dataset"], "row": r["row"], "input_ids": r["input_ids"], "labels": r["labels"]} for r in ds]
        print(json.dumps(out))
        return 0
    tok = getattr(processor, "tokenizer", processor)
    console = Console()
    console.print("[bold green]green[/]: supervised (in the loss)   [dim]dim[/]: masked (-100)")
    for r in ds:
        console.rule(f"{r['dataset']} row {r['row']}  ({len(r['input_ids'])} tokens, "
                     f"{sum(1 for x in r['labels'] if x != -100)} supervised)")
        text = Text()
        ids = r["input_ids"]
        for i, lab in enumerate(r["labels"]):
            text.append(_piece(tok, ids, i), style="bold green" if lab != -100 else "dim")
        console.print(text)
    return 0
