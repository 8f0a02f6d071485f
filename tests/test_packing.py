"""Sample packing: a packed batch trains every row exactly as if it were alone.

For each family that declares ``can_pack``, rows (image rows and a text-only row) run one by one
and packed into sequences (two packs, so one carries padding) give the same per-token losses and
the same gradients in fp32. A family that cannot pack is refused before preprocessing, and the
bin packing loses no row and respects its limits.
"""

from __future__ import annotations

import math
import random

import pytest
import torch
from family_checks import (
    encode_row,
    one_media_conversation,
    row_processor,
    run_training,
    tiny_config,
    video_conversation,
    write_gif,
    write_jsonl,
    write_two_clips,
    write_two_images,
)

from mmtune.errors import ConfigError
from mmtune.models.families import all_families, get_family
from mmtune.models.loading import check_model_options
from mmtune.train.collator import Collator
from mmtune.train.packing import PackingCollator, pack_rows
from mmtune.transforms.labels import IGNORE

PACKING = sorted(f.id for f in all_families().values() if f.can_pack)
REFUSED = sorted(f.id for f in all_families().values() if not f.can_pack)


def token_losses(model, family, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-token loss [B, L-1] (0 where the next label is IGNORE), the model's own shift."""
    inputs = family.prepare_inputs(dict(batch), model.dtype)
    labels = inputs.pop("labels")
    logits = model(**inputs).logits.float()
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].transpose(1, 2), labels[:, 1:], ignore_index=IGNORE, reduction="none"
    )


def grads(model, names: list[str]) -> dict[str, torch.Tensor]:
    """The gradients of ``names`` that got one (a tower these rows never use gets none)."""
    got = {n: p.grad.detach().clone() for n, p in model.named_parameters() if n in names and p.grad is not None}
    model.zero_grad(set_to_none=True)
    return got


def packing_rows(rp, tmp_path) -> list[dict]:
    """A media row, a text-only row, another media row (images, or audio for an audio-only family),
    and a video row for a family that takes video."""
    kind = "image" if "image" in rp.family.modalities else "audio"
    a, b = write_two_images(tmp_path) if kind == "image" else write_two_clips(tmp_path)
    convs = [
        one_media_conversation(kind, a, "What is this?", "It is red."),
        {"messages": [{"role": "user", "content": "Say yes."}, {"role": "assistant", "content": "yes"}]},
        one_media_conversation(kind, b, "And this one?", "Blue, all of it."),
    ]
    if "video" in rp.family.modalities:
        convs.append(video_conversation(write_gif(tmp_path)))
    return [encode_row(rp, c, str(tmp_path)) for c in convs]


@pytest.mark.parametrize("family_id", PACKING)
def test_packed_rows_train_as_if_alone(family_id, tiny_ckpt, tmp_path):
    torch.manual_seed(0)
    ckpt = tiny_ckpt(family_id)
    family = get_family(family_id)
    rp = row_processor(ckpt, tmp_path)
    rows = packing_rows(rp, tmp_path)
    model = family.load_model(str(ckpt), dtype=torch.float32)
    model.eval()  # no dropout: both runs must see the same function
    pad = 0
    # every parameter's gradient (the models are tiny): language model, projector and media towers
    checked = [n for n, p in model.named_parameters() if p.requires_grad]

    # batches of packs: the second pack of the first batch is shorter (it carries padding); a video
    # row packs behind the text row in a batch of its own (GLM's forward refuses a batch that mixes
    # images and videos, packed or not)
    batches = [[[0, 1], [2]]] + ([[[1, 3]]] if len(rows) > 3 else [])
    uses = [sum(i == j for b in batches for p in b for j in p) for i in range(len(rows))]

    alone, total = [], 0.0
    for r, k in zip(rows, uses):
        loss = token_losses(model, family, Collator(family, pad, rp.transform)([r]))[0]
        alone.append(loss.detach())
        total = total + k * loss.sum()
    total.backward()
    want = grads(model, checked)

    collate = PackingCollator(family, pad, family.packed_positions(model), rp.transform)
    for packs in batches:
        batch = collate([[rows[i] for i in p] for p in packs])
        assert "attention_mask" not in batch
        packed = token_losses(model, family, batch)
        packed.sum().backward()
        for b, pack in enumerate(packs):
            start = 0
            for i in pack:
                n = len(rows[i]["input_ids"])
                torch.testing.assert_close(packed[b, start : start + n - 1].detach(), alone[i], atol=1e-4, rtol=1e-4)
                if start:  # a row's first token is never a target, not even of the row before it
                    assert packed[b, start - 1].item() == 0.0
                start += n
    got = grads(model, checked)

    assert set(got) == set(want)
    assert {family.group_of(n) for n in want} >= {"language", "projector"}
    for name in want:
        # gradients sum over every token and media patch: fp32 sums in another order differ in the 4th digit
        torch.testing.assert_close(got[name], want[name], atol=1e-4, rtol=1e-2, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("family_id", REFUSED)
def test_family_that_cannot_pack_is_refused(family_id, tiny_ckpt, tmp_path):
    family = get_family(family_id)
    data = write_jsonl(tmp_path / "d.jsonl", [{"messages": []}])
    cfg = tiny_config(tiny_ckpt(family_id), data, tmp_path, sample_packing=True)
    with pytest.raises(ConfigError) as e:
        check_model_options(cfg)
    assert str(e.value) == (
        f"sample_packing: true is not supported for model family {family_id!r}: {family.pack_refusal}; "
        "set sample_packing: false"
    )


def test_every_family_declares_packing():
    assert set(PACKING) | set(REFUSED) == set(all_families())
    for fid in REFUSED:
        assert get_family(fid).pack_refusal


@pytest.mark.parametrize("seed", range(5))
def test_pack_rows_limits_and_no_row_lost(seed):
    rng = random.Random(seed)
    n = 200
    lengths = [rng.randint(1, 60) for _ in range(n)] + [150]  # one row alone over the limit
    media = [rng.choice([0, 0, 1, 2, 5]) for _ in range(n)] + [0]
    packs = pack_rows(lengths, media, sequence_len=128, max_media=6)
    flat = sorted(i for p in packs for i in p)
    assert flat == list(range(n + 1))  # each row in exactly one pack
    for p in packs:
        assert p == sorted(p)
        if len(p) > 1:
            assert sum(lengths[i] for i in p) <= 128
            assert sum(media[i] for i in p) <= 6
    assert [n] in packs
    assert len(packs) < n / 2  # it does pack


@pytest.mark.parametrize("family_id", ["qwen2_vl", "llava"])
def test_training_with_packing(family_id, tiny_ckpt, tmp_path, monkeypatch):
    """``sample_packing: true`` trains through the recipe, on batches the packing collator made."""
    calls: list[int] = []
    collate = PackingCollator.__call__
    monkeypatch.setattr(
        PackingCollator, "__call__", lambda self, packs: calls.append(len(packs)) or collate(self, packs)
    )
    a, b = write_two_images(tmp_path)
    rows = [one_media_conversation("image", x, "What is this?", f"Answer {i}.") for i, x in enumerate([a, b] * 3)]
    rows.append({"messages": [{"role": "user", "content": "Say yes."}, {"role": "assistant", "content": "yes"}]})
    for r in rows[:-1]:
        r["messages"][0]["content"][0]["path"] = str(tmp_path / r["messages"][0]["content"][0]["path"])
    result = run_training(tiny_ckpt(family_id), rows, tmp_path, sample_packing=True, max_steps=2, micro_batch_size=1)
    assert result.metrics["steps"] == 2 and calls
    assert all(math.isfinite(x) for x in result.losses)
