"""Tokenizers trained locally for tiny checkpoints (byte-level BPE, or SentencePiece-style BPE).

No hub is reachable here, so each tiny checkpoint trains its own tokenizer on a short corpus,
with the family's special tokens at the lowest ids, and saves it as a normal HF tokenizer.
"""

from __future__ import annotations

import json

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
    ``added_special`` are appended right after the trained vocabulary, in order, before any
    ``extra_attrs`` token that is not in the vocabulary yet (families that need id blocks at the
    end, e.g. Gemma3n's vision and audio ranges, name tokens of those blocks in ``extra_attrs``).
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
    if added_special:
        tok.add_special_tokens(list(added_special))
    kwargs = {k: v for k, v in {"bos_token": bos, "eos_token": eos, "pad_token": pad, "unk_token": unk}.items() if v}
    if extra_attrs:
        kwargs["extra_special_tokens"] = dict(extra_attrs)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **kwargs)
    if chat_template:
        fast.chat_template = chat_template
    return fast


def train_sentencepiece_bpe(
    special_tokens: list[str], *, vocab_size: int = 700, corpus: list[str] | None = None
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Vocab + merges laid out like a SentencePiece BPE model (Llama 2, Gemma), trained locally.

    Words carry a ``▁`` prefix, newlines are pieces of their own and the 256 byte-fallback tokens
    ``<0x00>``..``<0xFF>`` follow the specials. Families whose real tokenizer class rebuilds its
    pipeline from vocab + merges (``LlamaTokenizer``, ``GemmaTokenizer``) pass these to that class,
    so their tiny checkpoints split text the way the real ones do: e.g. the ``▁`` a Llama tokenizer
    prepends to a text that does not follow a special token, which byte-level BPE never does.
    """
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=True))
    # Training only: keep merges inside words and away from newlines, as SentencePiece does.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split("\n", behavior="isolated"),
            pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=special_tokens, initial_alphabet=["\n"], show_progress=False
    )
    tok.train_from_iterator(((corpus or []) + CORPUS) * 4, trainer=trainer)
    trained = tok.get_vocab()
    byte_tokens = [f"<0x{i:02X}>" for i in range(256)]
    order = (
        special_tokens
        + byte_tokens
        + [t for t, _ in sorted(trained.items(), key=lambda kv: kv[1]) if t not in special_tokens]
    )
    vocab = {t: i for i, t in enumerate(dict.fromkeys(order))}
    merges = [
        tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in json.loads(tok.to_str())["model"]["merges"]
    ]
    return vocab, merges
