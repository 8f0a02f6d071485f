"""`mmtune merge` and `merge_lora: true`: one set of weights that reproduces base + adapter."""

from __future__ import annotations

import json

import pytest
import torch
from family_checks import logits_on, run_training, tokenizer, two_image_conversation, write_two_images
from safetensors import safe_open

from mmtune.cli import main
from mmtune.config import parse_config
from mmtune.errors import ConfigError
from mmtune.models.loading import load_model
from mmtune.outputs.predict import Predictor
from mmtune.train.collator import Collator

FAMILY = "qwen2_vl"


@pytest.fixture(scope="module")
def merged_run(tiny_ckpt, tmp_path_factory):
    """A 2-step LoRA run with ``merge_lora: true`` (so the adapter is trained, not the identity)."""
    tmp = tmp_path_factory.mktemp("merge")
    a, b = write_two_images(tmp)
    return run_training(tiny_ckpt(FAMILY), [two_image_conversation(a, b)] * 2, tmp, max_steps=2, merge_lora=True)


def _image_batch(result, pred: Predictor) -> dict:
    row = result.prepared.dataset[0]
    assert row["n_media"] == 2  # the row carries both images: the vision tower and projector take part
    tok = tokenizer(pred)
    batch = Collator(pred.family, tok.pad_token_id if tok.pad_token_id is not None else 0, pred.transform)([row])
    batch.pop("labels")
    return batch


def test_merged_model_gives_the_adapters_logits_on_an_image_row(merged_run, tiny_ckpt):
    out = merged_run.output_dir
    merged = out / "merged"
    assert (merged / "model.safetensors").is_file() and not (merged / "adapter_config.json").exists()
    assert not (merged / "train_metrics.json").exists() and not (merged / "training_args.bin").exists()
    with_adapter, alone = Predictor(out), Predictor(merged)
    assert type(alone.model).__name__ == "Qwen2VLForConditionalGeneration"  # no peft wrapper
    batch = _image_batch(merged_run, with_adapter)
    want = logits_on(with_adapter.model, with_adapter.family, batch)
    got = logits_on(alone.model, alone.family, batch)
    assert (got - want).abs().max().item() < 1e-5
    base = logits_on(load_model(str(tiny_ckpt(FAMILY)), alone.family), alone.family, batch)
    assert (base - want).abs().max().item() > 1e-4  # the adapter changed the model: the check can fail
    # the folder is an mmtune output of its own: same preprocessing, no adapter, a model card
    card = json.loads((merged / "mmtune_run.json").read_text())
    assert card["adapter"] is None and card["base_model"] == str(tiny_ckpt(FAMILY))
    assert (merged / "chat_template.jinja").is_file() or "chat_template" in (
        merged / "tokenizer_config.json"
    ).read_text()
    readme = (merged / "README.md").read_text()
    assert f"adapter of `{out}` merged into the base weights" in readme
    assert "More Information Needed" not in readme


def test_merge_cli_dtype_and_refusals(merged_run, tmp_path, caplog):
    out = merged_run.output_dir
    assert main(["merge", str(out), "--to", str(tmp_path / "bf16"), "--dtype", "bf16"]) == 0
    model = Predictor(tmp_path / "bf16").model  # load_trained loads in float32; the file holds bf16
    with safe_open(str(tmp_path / "bf16" / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.bfloat16}
    assert model is not None
    caplog.clear()
    assert main(["merge", str(out)]) == 2  # out/merged holds the merge_lora result already
    assert caplog.records[-1].getMessage() == (
        f"{out / 'merged'} already exists and is not empty; remove it or choose another --to"
    )
    assert main(["merge", str(tmp_path)]) == 2
    assert caplog.records[-1].getMessage() == f"{tmp_path} is not an mmtune output folder (no mmtune_run.json)"
    # the merged folder itself has no adapter left to merge: a full set of weights, like a full fine-tune
    assert main(["merge", str(out / "merged"), "--to", str(tmp_path / "again")]) == 2
    assert caplog.records[-1].getMessage() == (
        f"{out / 'merged'} has no adapter to merge (a full fine-tune, or a merged model): its weights are complete; "
        f"load the folder itself with from_pretrained or `mmtune predict {out / 'merged'}`"
    )


def test_merge_lora_without_an_adapter_is_refused(tmp_path):
    with pytest.raises(ConfigError) as e:
        parse_config({"base_model": str(tmp_path), "datasets": [{"path": "d.jsonl"}], "merge_lora": True})
    assert "merge_lora apply to a LoRA adapter: set adapter: lora (or qlora)" in str(e.value)
