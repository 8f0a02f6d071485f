#!/usr/bin/env bash
# Release check on a GPU machine: the training paths a CPU cannot run, each for a few steps on tiny
# checkpoints of three families that stress different code (mllama: cross-attention layers,
# qwen2_vl: multi-axis rope and flattened patches, voxtral: audio through mistral-common).
#
#   bench/gpu_check.sh [WORKDIR]            run every check; one line per check at the end
#   bench/gpu_check.sh --configs-only DIR   only write the data and configs (tests/test_distributed.py)
#
# Checks per family: qlora (4-bit, bitsandbytes), bf16 with sdpa, flash-attention 2 (when
# flash_attn is installed and the model supports it), DeepSpeed ZeRO-2 and ZeRO-3 (when deepspeed is
# installed) and FSDP2, the last three on every visible GPU. A check passes when training exits 0,
# its losses are finite and `load_trained` loads the saved output. Expect about 4-6 minutes on one
# modern GPU (most of it interpreter starts); each check is cut off after CHECK_TIMEOUT seconds.
# Exit status: 1 when any check failed, else 0.
set -uo pipefail

PY=${PYTHON:-python}
CHECK_TIMEOUT=${CHECK_TIMEOUT:-150}
FAMILIES=(mllama qwen2_vl voxtral)
CHECKS=(qlora bf16_sdpa flash zero2 zero3 fsdp2)

configs_only=0
if [[ "${1:-}" == "--configs-only" ]]; then
    configs_only=1
    shift
    [[ $# -ge 1 ]] || { echo "usage: $0 --configs-only DIR" >&2; exit 2; }
fi
WORK=${1:-$(mktemp -d -t mmtune-gpu-check-XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)

# One folder per family: data.jsonl with its media, and one config per check.
write_configs() {
    "$PY" - "$WORK" "${FAMILIES[@]}" <<'EOF'
import json
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml
from PIL import Image

work, families = Path(sys.argv[1]), sys.argv[2:]
colors = ("red", "green", "blue", "white")
base = {
    "datasets": [{"path": "data.jsonl"}],
    "dataset_prepared_path": "prep",
    "learning_rate": 1e-3,
    "max_steps": 3,
    "warmup_steps": 0,
    "logging_steps": 1,
    "saves_per_epoch": 0,
    "micro_batch_size": 2,
    "overwrite_output_dir": True,
    "seed": 0,
}
checks = {
    "qlora": {"adapter": "qlora", "load_in_4bit": True, "lora_r": 8, "lora_alpha": 16, "bf16": True},
    "bf16_sdpa": {"bf16": True, "attn_implementation": "sdpa"},
    "flash": {"bf16": True, "attn_implementation": "flash_attention_2"},
    "zero2": {"bf16": True, "deepspeed": "zero2"},
    "zero3": {"bf16": True, "deepspeed": "zero3"},
    "fsdp2": {"bf16": True, "fsdp_version": 2, "fsdp_config": {"auto_wrap_policy": "TRANSFORMER_BASED_WRAP"}},
}
for fam in families:
    d = work / fam
    (d / "media").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(8):
        if fam == "voxtral":
            freq = 220.0 * (1 + i % 4)
            t = np.arange(8000) / 16000
            sf.write(d / "media" / f"{i % 4}.wav", (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 16000)
            media = {"type": "audio", "path": f"media/{i % 4}.wav"}
            question, answer = "Which tone is this?", f"{int(freq)} hertz"
        else:
            Image.new("RGB", (56, 56), colors[i % 4]).save(d / "media" / f"{i % 4}.png")
            media = {"type": "image", "path": f"media/{i % 4}.png"}
            question, answer = "Color?", colors[i % 4]
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": [media, {"type": "text", "text": question}]},
                    {"role": "assistant", "content": answer},
                ]
            }
        )
    (d / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    for name, keys in checks.items():
        cfg = {"base_model": str(d / "ckpt"), **base, **keys, "output_dir": f"out-{name}"}
        (d / f"{name}.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
EOF
}

write_configs || { echo "FAIL  writing the check configs" >&2; exit 1; }
if [[ $configs_only == 1 ]]; then
    exit 0
fi

has() { "$PY" -c "import $1" >/dev/null 2>&1; }
GPUS=$("$PY" -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
if [[ "$GPUS" -lt 1 ]]; then
    echo "SKIP  all checks: no CUDA GPU visible to torch"
    exit 0
fi
echo "gpu_check: $GPUS GPU(s), work folder $WORK" >&2

declare -a LINES=()
failed=0
report() {  # status family check reason
    LINES+=("$(printf '%-4s  %-9s %-10s %s' "$1" "$2" "$3" "$4")")
    [[ "$1" == FAIL ]] && failed=1
    echo "${LINES[-1]}" >&2
}

# Verify finished outputs in one interpreter (starting one per check would double the run time):
# finite losses, and load_trained reads the output back. One line per output: "ok <what>" or "bad <why>".
verify() {
    "$PY" - "$@" <<'EOF'
import json
import math
import sys

from mmtune.outputs.load import load_trained

for out in sys.argv[1:]:
    try:
        losses = json.load(open(f"{out}/train_metrics.json"))["losses"]
        assert losses and all(math.isfinite(x) for x in losses), f"losses {losses}"
        n = sum(p.numel() for p in load_trained(out).model.parameters())
        print(f"ok {len(losses)} steps, last loss {losses[-1]:.4g}, reloaded {n:,} params", flush=True)
    except Exception as e:  # any failure is this check's FAIL line
        print("bad " + f"{type(e).__name__}: {e}".replace("\n", " ")[:160], flush=True)
EOF
}

declare -a TRAINED=() TRAINED_OUT=() TRAINED_TIME=()

for fam in "${FAMILIES[@]}"; do
    d="$WORK/$fam"
    if ! (cd "$d" && "$PY" -m mmtune tiny "$fam" ckpt >"$d/tiny.log" 2>&1); then
        for check in "${CHECKS[@]}"; do report FAIL "$fam" "$check" "mmtune tiny failed: $(tail -1 "$d/tiny.log")"; done
        continue
    fi
    for check in "${CHECKS[@]}"; do
        launch=()
        case $check in
            qlora) has bitsandbytes || { report SKIP "$fam" "$check" "bitsandbytes not installed"; continue; } ;;
            flash) has flash_attn || { report SKIP "$fam" "$check" "flash_attn not installed"; continue; } ;;
            zero2 | zero3)
                has deepspeed || { report SKIP "$fam" "$check" "deepspeed not installed"; continue; }
                launch=(--num-processes "$GPUS")
                ;;
            fsdp2) launch=(--num-processes "$GPUS") ;;
        esac
        log="$d/$check.log"
        start=$SECONDS
        (cd "$d" && timeout "$CHECK_TIMEOUT" "$PY" -m mmtune train "$check.yaml" "${launch[@]}") >"$log" 2>&1
        rc=$?
        took=$((SECONDS - start))
        if [[ $rc == 124 ]]; then
            report FAIL "$fam" "$check" "timed out after ${CHECK_TIMEOUT}s ($log)"
        elif [[ $rc != 0 ]]; then
            if [[ $check == flash ]] && grep -qi "does not support flash attention" "$log"; then
                report SKIP "$fam" "$check" "the model has no flash-attention 2 path in transformers"
            else
                report FAIL "$fam" "$check" "exit $rc: $(grep -v '^\s*$' "$log" | tail -1 | cut -c1-160) ($log)"
            fi
        else
            TRAINED+=("$fam $check")
            TRAINED_OUT+=("$d/out-$check")
            TRAINED_TIME+=("$took")
        fi
    done
done

if [[ ${#TRAINED[@]} -gt 0 ]]; then
    mapfile -t CHECKED < <(verify "${TRAINED_OUT[@]}" 2>"$WORK/verify.log" | grep -E "^(ok|bad) ")
    for i in "${!TRAINED[@]}"; do
        read -r fam check <<<"${TRAINED[$i]}"
        line=${CHECKED[$i]:-"bad the verification stopped early (see $WORK/verify.log)"}
        if [[ $line == ok* ]]; then
            report PASS "$fam" "$check" "${TRAINED_TIME[$i]}s, ${line#ok }"
        else
            report FAIL "$fam" "$check" "trained, but the output does not check: ${line#bad }"
        fi
    done
fi

echo
printf '%s\n' "${LINES[@]}"
exit $failed
