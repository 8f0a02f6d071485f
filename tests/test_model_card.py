"""output_dir/README.md says what was trained, on what, how well and how to load it."""

from __future__ import annotations

import json
from dataclasses import replace

from family_checks import one_media_conversation, run_training, write_two_images

from mmtune.outputs.model_card import render_model_card, write_model_card
from mmtune.outputs.runcard import RunCard

FAMILY = "qwen2_vl"


def test_model_card_names_the_base_model_data_counts_and_how_to_load(tiny_ckpt, tmp_path):
    a, _ = write_two_images(tmp_path)
    good = one_media_conversation("image", a, "What color is it?", "red")
    missing = one_media_conversation("image", "imgs/none.png", "What color is it?", "red")
    result = run_training(
        tiny_ckpt(FAMILY), [good, good, missing], tmp_path, max_steps=2, saves_per_epoch=0, on_bad_rows="skip"
    )
    out = result.output_dir
    readme = (out / "README.md").read_text()
    m = result.metrics
    assert (m["data_rows_read"], m["data_rows_kept"], m["data_rows_dropped"]) == (3, 2, 1)
    base = str(tiny_ckpt(FAMILY))
    assert readme.startswith(f"---\nbase_model: {base}\nlibrary_name: peft\ntags:\n- mmtune\n- qwen2_vl\n- lora\n---\n")
    assert "More Information Needed" not in readme  # peft's template is gone
    for line in (
        f"- **Base model:** `{base}`",
        "- **Model family:** qwen2_vl",
        "- **Training:** a lora adapter on the base model",
        "| lora_r | 8 |",
        "| lora_alpha | 16 |",
        f"- `{tmp_path / 'train.jsonl'}` (chat_template, split train)",
        "| rows read | 3 |",
        "| rows kept | 2 |",
        "| rows dropped | 1 |",
        f"| tokens | {m['data_tokens']} |",
        f"| supervised tokens | {m['data_supervised_tokens']} |",
        "| learning_rate | 0.005 |",
        "| max_steps | 2 |",
        f"| train_loss | {m['train_loss']:.4g} |",
        f"mmtune predict {out} --image photo.jpg --prompt 'Describe the image.'",
        f'model = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained("{base}"), "{out}")',
    ):
        assert line in readme.splitlines(), line

    # `mmtune evaluate`'s results, base and trained, once they exist: the card shows both
    results = {"metrics": {"accuracy": 0.75}, "rows": 4, "data": "heldout.jsonl"}
    (out / "eval_results.json").write_text(json.dumps(results))
    (out / "eval_results_base.json").write_text(json.dumps({**results, "metrics": {"accuracy": 0.25}}))
    readme = write_model_card(out).read_text()
    assert "`mmtune evaluate`, 4 rows on `heldout.jsonl`:" in readme
    assert "| accuracy | 0.25 | 0.75 |" in readme.splitlines()

    # a full fine-tune's card loads the folder alone, without peft
    full = render_model_card(replace(RunCard.load(out), adapter=None), m, {}, "full-out")
    assert "library_name: transformers" in full and "peft" not in full.split("## How to use it")[1]
    assert "- **Training:** a full fine-tune (all weights saved)" in full and "## Adapter" not in full
    assert 'model = AutoModelForImageTextToText.from_pretrained("full-out")' in full
