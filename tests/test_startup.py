"""Start-up: a command imports what it needs and no more. ``mmtune --help`` imports no torch, and
``validate`` none of the training stack (transformers' Trainer and TrainingArguments), which costs
seconds to import and is not needed to check data. (It does build the model on the meta device to
check lora_target_modules, so transformers' modeling code, peft and accelerate do load.)"""

from __future__ import annotations

import json
import subprocess
import sys

from family_checks import tiny_config, write_jsonl

TRAINING_STACK = ("transformers.training_args", "transformers.trainer")


def _imported_after(argv: list[str]) -> tuple[int, list[str]]:
    code = (
        "import sys, json\n"
        "from mmtune.cli import main\n"
        "try:\n"
        f"    rc = main({argv!r})\n"
        "except SystemExit as e:\n"
        "    rc = e.code\n"
        "print('MODULES ' + json.dumps(sorted(sys.modules)))\n"
        "sys.exit(rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    line = next(x for x in out.stdout.splitlines() if x.startswith("MODULES "))
    return out.returncode, json.loads(line[len("MODULES ") :])


def test_help_imports_no_torch():
    rc, modules = _imported_after(["--help"])
    assert rc == 0
    assert "torch" not in modules and "transformers" not in modules


def test_validate_imports_no_training_stack(tiny_ckpt, tmp_path):
    data = write_jsonl(
        tmp_path / "d.jsonl",
        [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}],
    )
    cfg = tiny_config(tiny_ckpt("qwen2_vl"), data, tmp_path)
    path = tmp_path / "cfg.json"  # YAML is JSON's superset: the config file as mmtune reads it
    path.write_text(json.dumps(cfg.model_dump(mode="json", exclude_defaults=True)))
    rc, modules = _imported_after(["validate", str(path)])
    assert rc == 0
    assert [m for m in TRAINING_STACK if m in modules] == []
