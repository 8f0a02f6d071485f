"""Qwen3.5 (dense): Qwen3-VL's processor and media layout, a hybrid Gated DeltaNet + attention LM, and
a chat template with think blocks.

Differences from Qwen3-VL that the pipeline cares about:

- The template trims every message and opens each assistant turn that comes after the last user
  turn on a think block: ``<think>\\n`` + reasoning + ``\\n</think>\\n\\n`` + answer, the reasoning
  being the text before ``</think>`` in the answer (empty for plain answers); earlier assistant turns
  keep only their answer. Whether a turn gets the block depends on where the *last* user turn is,
  so ``conversation_vars`` passes ``last_query_index`` to every prefix; and ``enable_thinking`` is
  true only when such a turn carries reasoning, so the generation prompt the answer is split from
  is ``<think>\\n`` (the reasoning is supervised) or the closed empty block (only the answer is).
  A generation prompt for ``predict`` is therefore the non-thinking one.
- The hub template writes a system message's text parts back to back; ``template_message`` joins
  them with a blank line (Gemma 3's rule) so they do not run together. It refuses media there.
- Three of every four LM layers are Gated DeltaNet linear attention (``linear_attn.in_proj_qkv``,
  ``in_proj_z``, ``out_proj``): LoRA goes on those as well as on the attention and MLP projections.
  The vision tower feeds the LM through ``visual.merger`` only (no DeepStack mergers).
"""

from __future__ import annotations

from mmtune.conversation import Conversation
from mmtune.errors import DataError
from mmtune.models.families import register
from mmtune.models.families.base import family_template
from mmtune.models.families.qwen3_vl import Qwen3VL


def reasoning_of(text: str) -> str:
    """The reasoning the template finds in an assistant text: what precedes ``</think>`` (after any
    ``<think>``), trimmed; empty when the text has no ``</think>``."""
    content = text.strip()
    if "</think>" not in content:
        return ""
    return content.split("</think>")[0].rstrip("\n").split("<think>")[-1].lstrip("\n").strip()


def _is_query(text: str) -> bool:
    """A user turn the template counts as a query: not a bare ``<tool_response>`` block."""
    t = text.strip()
    return not (t.startswith("<tool_response>") and t.endswith("</tool_response>"))


@register
class Qwen3_5(Qwen3VL):
    id = "qwen3_5"
    model_types = ("qwen3_5",)
    template_names = ("qwen3_5",)
    chat_template = family_template("qwen3_5.jinja")
    hub_example = "Qwen/Qwen3.5-9B"
    # Attention, Gated DeltaNet and MLP projections (MoE: the shared expert's); routed experts are
    # 3-D parameters, not modules LoRA can wrap.
    lora_modules = (
        r"(self_attn\.(q|k|v|o)_proj|linear_attn\.(in_proj_qkv|in_proj_z|out_proj)"
        r"|mlp\.(shared_expert\.)?(gate|up|down)_proj)"
    )
    linear_modules = r".*(_proj|in_proj_[a-z]+|_gate)"
    # Its Gated DeltaNet layers carry a recurrent state along the whole sequence: restarting positions
    # do not reset it, so a packed row would read the rows before it.
    can_pack = False
    pack_refusal = "its linear-attention (Gated DeltaNet) layers carry state from one packed row into the next"

    @classmethod
    def template_message(cls, role: str, parts: list[dict]) -> dict:
        if role != "system":
            return {"role": role, "content": parts}
        media = [p["type"] for p in parts if p["type"] != "text"]
        if media:
            raise DataError(f"a Qwen3.5 system message takes only text (found {media[0]})")
        return {"role": role, "content": [{"type": "text", "text": "\n\n".join(p["text"] for p in parts)}]}

    @classmethod
    def conversation_vars(cls, conv: Conversation) -> dict:
        queries = [i for i, m in enumerate(conv.messages) if m.role == "user" and _is_query(m.text)]
        if not queries:
            return {}  # the template refuses such a conversation itself
        last = queries[-1]
        after = conv.messages[last + 1 :]
        thinking = any(m.role == "assistant" and reasoning_of(m.text) for m in after)
        return {"last_query_index": last, "enable_thinking": thinking}
