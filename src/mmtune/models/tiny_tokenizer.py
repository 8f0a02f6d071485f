"""A small byte-level BPE tokenizer trained locally for tiny checkpoints.

No hub is reachable here, so each tiny checkpoint trains its own tokenizer on a short corpus,
with the family's special tokens at the lowest ids, and saves it as a normal HF tokenizer.
"""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

_WORDS = (
    "red green blue yellow purple orange black white gray pink brown cyan "
    "circle square triangle star cross diamond shape shapes color colour kind count "
    "one two three four five six seven eight nine ten 0 1 2 3 4 5 6 7 8 9 "
    "what which how many is are the a an of in on this that there image picture video audio "
    "sound clip frame frames describe answer question yes no and or with word you user assistant "
    "system helpful please tell me see shown it its first second third next then color? shape? "
)
CORPUS = [
    _WORDS,
    "What color is the shape? What shape is it? How many shapes are there?",
    "You are a helpful assistant. Describe the image. The answer is red.",
    "A photo of a cat on a mat. The dog runs in the park. Hello world!",
    "Transcribe the audio. Summarize the video. Compare the two images.",
    "The quick brown fox jumps over the lazy dog. 0123456789 .,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`",
]


def train_tokenizer(
    special_tokens: list[str],
    *,
    vocab_size: int = 600,
    bos: str | None = None,
    eos: str | None = None,
    pad: str | None = None,
    unk: str | None = None,
    extra_attrs: dict[str, str] | None = None,
    added_special: list[str] | None = None,
    chat_template: str | None = None,
    corpus: list[str] | None = None,
) -> PreTrainedTokenizerFast:
    """Train BPE with ``special_tokens`` first (ids 0..n-1), then wrap it for transformers.

    ``extra_attrs`` become tokenizer attributes processors look up (``image_token`` etc.);
    ``added_special`` are appended after training (for families that need id blocks at the end).
    """
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts = (corpus or []) + CORPUS
    tok.train_from_iterator(texts * 4, trainer=trainer)
    kwargs = {k: v for k, v in {"bos_token": bos, "eos_token": eos, "pad_token": pad, "unk_token": unk}.items() if v}
    if extra_attrs:
        kwargs["extra_special_tokens"] = dict(extra_attrs)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs)
    if added_special:
        fast.add_special_tokens({"additional_special_tokens": added_special}, replace_extra_special_tokens=False)
    if chat_template:
        fast.chat_template = chat_template
    return fast
