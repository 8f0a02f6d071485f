"""What the Mistral recipes share: tekken control-token tables, tiny tekken files, Pixtral + Mistral configs.

``write_tiny_tekken`` is a shrunk copy of the tekken file mistral-common ships, so tiny checkpoints
of Mistral-Small-3.1, Magistral and Voxtral have a real tekken tokenizer of ~1100 tokens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mmtune.tiny import TinySizes, text_config, text_heads, vision_config

# tekken v3's control tokens, in its rank order ([IMG] = 10, <pad> = 11, [IMG_BREAK] = 12, [IMG_END] = 13).
V3_SPECIALS = [
    "<unk>",
    "<s>",
    "</s>",
    "[INST]",
    "[/INST]",
    "[AVAILABLE_TOOLS]",
    "[/AVAILABLE_TOOLS]",
    "[TOOL_RESULTS]",
    "[/TOOL_RESULTS]",
    "[TOOL_CALLS]",
    "[IMG]",
    "<pad>",
    "[IMG_BREAK]",
    "[IMG_END]",
    "[PREFIX]",
    "[MIDDLE]",
    "[SUFFIX]",
    "[SYSTEM_PROMPT]",
    "[/SYSTEM_PROMPT]",
    "[TOOL_CONTENT]",
]
# tekken v7 control tokens by rank (0-19 as every tekken file, then the v7 additions).
V7_SPECIALS = dict(enumerate([*V3_SPECIALS, "[ARGS]", "[CALL_ID]"]))


def write_tiny_tekken(
    path: Path,
    version: str,
    specials: dict[int, str],
    n_ranks: int = 1000,
    n_special: int = 100,
    image: dict | None = None,
    audio: dict | None = None,
) -> Path:
    """Write a tekken.json keeping the first ``n_ranks`` BPE ranks of mistral-common's shipped file.

    ``specials`` maps rank -> control token; free ranks get tekken's ``<SPECIAL_n>`` fillers. Listing
    the special tokens explicitly is what lets any version (v7, v13, ...) load.
    """
    import mistral_common

    src = Path(mistral_common.__file__).parent / "data" / "tekken_240911.json"
    full = json.loads(src.read_text())
    tokens = [{"rank": i, "token_str": specials.get(i, f"<SPECIAL_{i}>"), "is_control": True} for i in range(n_special)]
    data: dict[str, Any] = {
        "config": {
            **full["config"],
            "version": version,
            "num_vocab_tokens": n_ranks,
            "default_vocab_size": n_ranks + n_special,
            "default_num_special_tokens": n_special,
        },
        "vocab": full["vocab"][:n_ranks],
        "special_tokens": tokens,
    }
    if image:
        data["image"] = image
    if audio:
        data["audio"] = audio
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def tiny_pixtral_mistral(tok: Any, sizes: TinySizes, image_size: int, patch_size: int) -> dict:
    """Tiny Pixtral vision + Mistral text sub-configs, shared by Pixtral (Llava) and Mistral3."""
    ids = tok.convert_tokens_to_ids
    return {
        "vision_config": vision_config(
            sizes,
            model_type="pixtral",
            head_dim=sizes.vision_dim // 2,
            image_size=image_size,
            patch_size=patch_size,
        ),
        "text_config": text_config(
            tok,
            sizes,
            model_type="mistral",
            head_dim=sizes.hidden // text_heads(sizes),
            max_position_embeddings=4096,
            bos_token_id=ids("<s>"),
            eos_token_id=ids("</s>"),
            pad_token_id=ids("<pad>"),
        ),
        "image_token_index": ids("[IMG]"),
    }
