"""A synthetic visual question answering set: coloured shapes, generated locally.

Three kinds of question, each with five possible answers, so guessing scores 20% at most:
the colour of the shapes, their kind, and how many there are. Held-out images are drawn with a
different seed and never appear in training.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import Image, ImageDraw

COLORS = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 60, 220),
    "yellow": (235, 200, 20),
    "purple": (140, 40, 170),
}
KINDS = ("circle", "square", "triangle", "cross", "diamond")
COUNTS = (1, 2, 3, 4, 5)
QUESTIONS = {
    "color": "What color is the shape?",
    "kind": "What shape is it?",
    "count": "How many shapes are there?",
}
SIZE = 84  # 6x6 patches of 14 px for the Qwen2-VL vision tower
CELL = SIZE // 3


def draw_shape(d: ImageDraw.ImageDraw, kind: str, box: tuple[int, int, int, int], fill: tuple[int, int, int]) -> None:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if kind == "circle":
        d.ellipse(box, fill=fill)
    elif kind == "square":
        d.rectangle(box, fill=fill)
    elif kind == "triangle":
        d.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=fill)
    elif kind == "diamond":
        d.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=fill)
    elif kind == "cross":
        w = (x1 - x0) / 3
        d.rectangle((x0, cy - w / 2, x1, cy + w / 2), fill=fill)
        d.rectangle((cx - w / 2, y0, cx + w / 2, y1), fill=fill)


def make_image(color: str, kind: str, count: int, rng: random.Random) -> Image.Image:
    img = Image.new("RGB", (SIZE, SIZE), (245, 245, 245))
    d = ImageDraw.Draw(img)
    cells = rng.sample(range(9), count)  # a 3x3 grid: shapes never overlap
    for c in cells:
        s = rng.randint(15, 22)
        x = (c % 3) * CELL + rng.randint(1, CELL - s - 1)
        y = (c // 3) * CELL + rng.randint(1, CELL - s - 1)
        draw_shape(d, kind, (x, y, x + s, y + s), COLORS[color])
    return img


def answer(kind_of_question: str, color: str, kind: str, count: int) -> str:
    return {"color": color, "kind": kind, "count": str(count)}[kind_of_question]


def write_split(out: Path, name: str, n_images: int, seed: int) -> Path:
    """Write ``n_images`` images and one row per (image, question) to ``out/name.jsonl``."""
    rng = random.Random(seed)
    img_dir = out / "images" / name
    img_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n_images):
        color, kind, count = rng.choice(list(COLORS)), rng.choice(KINDS), rng.choice(COUNTS)
        rel = f"images/{name}/{i:05d}.png"
        make_image(color, kind, count, rng).save(out / rel)
        for q, text in QUESTIONS.items():
            rows.append(
                {
                    "messages": [
                        {"role": "user", "content": [{"type": "image", "path": rel}, {"type": "text", "text": text}]},
                        {"role": "assistant", "content": answer(q, color, kind, count)},
                    ],
                    "question": q,
                }
            )
    path = out / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def make_dataset(out: Path, n_train: int = 1000, n_heldout: int = 60) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    return write_split(out, "train", n_train, seed=1), write_split(out, "heldout", n_heldout, seed=2)
