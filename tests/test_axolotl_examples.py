"""Axolotl's own multimodal example configs run as written (tests/data/axolotl_examples/SOURCE.md).

Each config is loaded as Axolotl ships it and trained for two steps on a tiny checkpoint of its
own family. Only these change:
- ``base_model`` (the tiny checkpoint), the dataset paths (local copies of the same shape: the
  llava-instruct-mix rows as parquet with an ``images`` column, Nanobit's test sets as JSONL with
  ``path`` parts beside their media), ``output_dir`` / ``dataset_prepared_path``, and the step
  count (``max_steps: 2``);
- settings that need a CUDA GPU: bitsandbytes / torchao optimizers (to ``adamw_torch``), 4/8-bit
  loading (``adapter: qlora`` becomes ``lora``), and attention kernels that need CUDA
  (``flash_attention_2``, ``flex_attention`` (no backward pass on CPU) and kernels-hub paths,
  also through Axolotl's legacy flags, become ``sdpa``; on this machine mmtune refuses them before
  loading, which tests/test_model_keys.py checks);
- ``torch_threads: 1``, a machine setting: torch's default of two threads makes tiny models 20-60x
  slower on this 2-core machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from PIL import Image

from mmtune.cli import main

EXAMPLES = Path(__file__).parent / "data" / "axolotl_examples"

# Each example's own family (its base_model's model type).
FAMILY = {
    "LiquidAI__lfm2-vl-lora.yaml": "lfm2_vl",
    "gemma3__gemma-3-4b-vision-qlora.yml": "gemma3",
    "gemma3n__gemma-3n-e2b-vision-audio-qlora.yml": "gemma3n",
    "gemma3n__gemma-3n-e2b-vision-qlora.yml": "gemma3n",
    "gemma4-unified__12b-vision-lora.yaml": "gemma4_unified",
    "gemma4__e2b-vision-lora.yaml": "gemma4",
    "glm46v__glm-4-6v-flash-ddp.yaml": "glm46v",
    "glm46v__glm-4-6v-flash-qlora.yaml": "glm46v",
    "internvl3_5__internvl3_5-8b-qlora.yml": "internvl",
    "llama-3-vision__lora-11b.yaml": "mllama",
    "llama-4__do-no-use-fa2__scout-vision-qlora-fsdp.yaml": "llama4",
    "llama-4__scout-vision-qlora-fsdp2-flex.yaml": "llama4",
    "llava__lora-7b.yaml": "llava",
    "magistral__vision__magistral-small-vision-24B-qlora.yml": "magistral",
    "ministral3__vision__ministral3-3b-vision-qlora.yml": "ministral3",
    "mistral-medium-3_5__qlora-vision.yml": "ministral3",
    "mistral-small__mistral-small-3.1-24B-lora.yml": "mistral_small_3_1",
    "mistral4__fft-vision.yml": "mistral4",
    "mistral4__qlora-vision.yml": "mistral4",
    "paddleocr-vl__paddleocr-vl-1_6-full-finetune.yaml": "paddleocr_vl",
    "paddleocr-vl__paddleocr-vl-1_6-qlora.yaml": "paddleocr_vl",
    "pixtral__lora-12b.yml": "pixtral",
    "qwen2-vl__lora-7b.yaml": "qwen2_vl",
    "qwen2_5-vl__lora-7b.yaml": "qwen2_5_vl",
    "qwen3.5__35b-a3b-moe-vision-lora.yaml": "qwen3_5_moe",
    "qwen3.5__9b-fft-vision.yaml": "qwen3_5",
    "qwen3.5__9b-lora-vision.yaml": "qwen3_5",
    "smolvlm2__smolvlm2-2B-lora.yaml": "smolvlm2",
    "voxtral__voxtral-mini-audio-qlora.yml": "voxtral",
}

LLAVA_ROWS = 200  # 'train[:1%]' selects 2 of them


def test_every_copied_example_is_in_the_table():
    assert sorted(p.name for p in EXAMPLES.glob("*.y*ml")) == sorted(FAMILY)


@pytest.fixture(scope="module")
def datasets_dir(tmp_path_factory) -> Path:
    """Local copies, in the same shapes, of the hub datasets the examples name."""
    import datasets

    root = tmp_path_factory.mktemp("axolotl_data")
    colors = ["red", "green", "blue", "white"]
    images = [Image.new("RGB", (40, 32), c) for c in colors]
    datasets.Dataset.from_dict(
        {
            "messages": [
                [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image", "index": 0, "text": None},
                            {"type": "text", "index": None, "text": "What color is this picture?"},
                        ],
                    },
                    {"role": "assistant", "content": [{"type": "text", "index": None, "text": colors[i % 4]}]},
                ]
                for i in range(LLAVA_ROWS)
            ],
            "images": [[images[i % 4]] for i in range(LLAVA_ROWS)],
        },
        features=datasets.Features(
            {
                "messages": [
                    {
                        "role": datasets.Value("string"),
                        "content": [
                            {
                                "type": datasets.Value("string"),
                                "index": datasets.Value("int64"),
                                "text": datasets.Value("string"),
                            }
                        ],
                    }
                ],
                "images": datasets.Sequence(datasets.Image()),
            }
        ),
    ).to_parquet(str(root / "llava-instruct-mix-vsft.parquet"))

    Image.new("RGB", (48, 36), "gray").save(root / "African_elephant.jpg")
    t = np.arange(16000) / 16000
    sf.write(root / "En-us-African_elephant.oga", 0.3 * np.sin(2 * np.pi * 220 * t), 16000, format="OGG")
    image = {"type": "image", "path": "African_elephant.jpg"}
    audio = {"type": "audio", "path": "En-us-African_elephant.oga"}
    for name, media in (
        ("text-vision-2k-test", [image]),
        ("text-audio-2k-test", [audio]),
        ("text-vision-audio-2k-test", [image, audio]),
    ):
        rows = [
            {
                "messages": [
                    {"role": "system", "content": [{"type": "text", "text": "You are a helpful assistant."}]},
                    {"role": "user", "content": [*media, {"type": "text", "text": "Describe this."}]},
                    {"role": "assistant", "content": [{"type": "text", "text": f"An elephant, {i}."}]},
                ]
            }
            for i in range(12)
        ]
        (root / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


LOCAL = {
    "HuggingFaceH4/llava-instruct-mix-vsft": "llava-instruct-mix-vsft.parquet",
    "Nanobit/text-vision-2k-test": "text-vision-2k-test.jsonl",
    "NanoBit/text-audio-2k-test": "text-audio-2k-test.jsonl",
    "Nanobit/text-vision-audio-2k-test": "text-vision-audio-2k-test.jsonl",
}


def _for_this_machine(raw: dict, tmp_path: Path, ckpt: Path, data: Path) -> dict:
    """The example with only the changes the module docstring lists."""
    raw = dict(raw)
    raw["base_model"] = str(ckpt)
    raw["datasets"] = [{**d, "path": str(data / LOCAL[d["path"]])} for d in raw["datasets"]]
    raw["output_dir"] = str(tmp_path / "out")
    raw["dataset_prepared_path"] = str(tmp_path / "prepared")
    raw["max_steps"] = 2
    raw["torch_threads"] = 1
    opt = str(raw.get("optimizer", ""))
    if any(m in opt for m in ("bnb", "8bit", "4bit", "torchao")):
        raw["optimizer"] = "adamw_torch"
    for key in ("load_in_4bit", "load_in_8bit"):
        raw.pop(key, None)
    if raw.get("adapter") == "qlora":
        raw["adapter"] = "lora"
    legacy_cuda = any(raw.get(f) for f in ("flash_attention", "xformers_attention", "s2_attention", "flex_attention"))
    if raw.get("attn_implementation") not in (None, "eager", "sdpa") or legacy_cuda:
        raw["attn_implementation"] = "sdpa"
    return raw


@pytest.mark.parametrize("name", sorted(FAMILY))
def test_axolotl_example_trains_two_steps_on_its_own_family(name, tiny_ckpt, datasets_dir, tmp_path, caplog):
    raw = yaml.safe_load((EXAMPLES / name).read_text())
    raw = _for_this_machine(raw, tmp_path, tiny_ckpt(FAMILY[name]), datasets_dir)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    assert main(["train", str(cfg)]) == 0
    metrics = json.loads((tmp_path / "out" / "train_metrics.json").read_text())
    assert metrics["steps"] == 2
    assert np.isfinite(metrics["train_loss"])
    card = json.loads((tmp_path / "out" / "mmtune_run.json").read_text())
    assert card["family"] == FAMILY[name]
