"""LLaVA 1.5's tiny checkpoint: a ``LlamaTokenizer`` with a locally trained SentencePiece-style vocabulary,
a CLIP tower on 28 px images (4 image tokens)."""

from __future__ import annotations

from pathlib import Path

import torch

from mmtune.models.families import get_family
from mmtune.tiny import TinySizes, recipe, text_config, vision_config
from mmtune.tiny.save import save_tiny

SPECIALS = ["<unk>", "<s>", "</s>", "<image>", "<pad>"]
SIDE = 28  # 2x2 patches of 14 px -> 4 image tokens


@recipe("llava")
def llava(out_dir: Path, seed: int, sizes: TinySizes) -> None:
    from transformers import (
        CLIPImageProcessor,
        LlamaTokenizer,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    from mmtune.tiny.tokenizer import train_sentencepiece_bpe

    template = get_family("llava").chat_template
    vocab, merges = train_sentencepiece_bpe(SPECIALS)
    # add_bos_token: llava-hf's tokenizer adds <s> when it encodes a prompt (its template writes none)
    tok = LlamaTokenizer(
        vocab=vocab,
        merges=merges,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        add_bos_token=True,
    )
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    tok.chat_template = template
    ids = tok.convert_tokens_to_ids
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": SIDE}, crop_size={"height": SIDE, "width": SIDE}),
        tokenizer=tok,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=template,
    )
    config = LlavaConfig(
        vision_config=vision_config(
            sizes, model_type="clip_vision_model", image_size=SIDE, patch_size=14, projection_dim=sizes.vision_dim
        ),
        text_config=text_config(
            tok,
            sizes,
            model_type="llama",
            max_position_embeddings=4096,
            bos_token_id=ids("<s>"),
            eos_token_id=ids("</s>"),
            pad_token_id=ids("<pad>"),
        ),
        # like llava-1.5: features of the second-to-last CLIP layer, CLS token dropped
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        image_token_index=ids("<image>"),
        image_seq_length=4,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    save_tiny(model, processor, out_dir, "llava")
