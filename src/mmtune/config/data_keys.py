"""Config keys of the data: datasets, rows, media decoding and the media trust boundary."""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import Field, model_validator

from mmtune.config.base import Strict
from mmtune.config.datasets import DatasetConfig
from mmtune.errors import ConfigError

log = logging.getLogger("mmtune")
# Axolotl's excess_length_strategy values and the truncation each one means.
EXCESS_LENGTH = {"drop": "drop", "truncate": "truncate", "raise": "error"}


class DataKeys(Strict):
    # -- data --------------------------------------------------------------------------------
    datasets: list[DatasetConfig] = Field(min_length=1, description="One or more datasets, concatenated.")
    val_set_size: float = Field(0.0, ge=0, description="Fraction (<1) or number of rows held out for evaluation.")
    test_datasets: list[DatasetConfig] | None = Field(
        None,
        description="Held-out datasets with their own files (entries as in datasets): evaluated instead of a "
        "val_set_size split, which must then be unset (Axolotl's rule). All of datasets trains.",
    )
    dataset_prepared_path: str | None = Field(None, description="Where preprocessed datasets are cached.")
    dataset_processes: int | None = Field(None, ge=1, description="Worker processes for preprocessing.")
    dataset_num_proc: int | None = Field(
        None, ge=1, description="Axolotl's newer name of dataset_processes; wins when both are set."
    )
    on_bad_rows: Literal["error", "skip"] = Field("error", description="Stop on bad rows, or drop them and report.")
    sequence_len: int = Field(2048, gt=0, description="Longest row in tokens, media tokens included.")
    truncation: Literal["error", "drop", "truncate"] = Field(
        "drop",
        description="A row longer than sequence_len: 'drop' it (reported with its reason), treat it as a bad row "
        "('error'), or 'truncate' it to sequence_len where only text is cut (a row whose media tokens reach past "
        "sequence_len is dropped with its reason: cutting would split an image's or clip's tokens).",
    )
    excess_length_strategy: Literal["drop", "truncate", "raise"] | None = Field(
        None, description="Axolotl's name of truncation: drop, truncate, raise (= 'error')."
    )
    media_fit: Literal["shrink", "drop", "error"] = Field(
        "shrink",
        description="A row with media longer than sequence_len: 'shrink' its media until it fits (fewer video "
        "frames, down to min_video_frames; smaller images, down to min_image_pixels, for models whose image "
        "tokens grow with the image's size; then fewer PDF pages, down to min_pdf_pages), then apply truncation "
        "if it still does not fit; 'drop' it (reported "
        "with its reason); or treat it as a bad row ('error'). Media placeholder tokens are never cut.",
    )
    min_image_pixels: int = Field(
        50_176, gt=0, description="media_fit: shrink: images are never shrunk below this many pixels (224x224)."
    )
    min_video_frames: int = Field(
        4, gt=0, description="media_fit: shrink: videos keep at least this many frames (sampled evenly)."
    )
    min_pdf_pages: int = Field(
        1,
        gt=0,
        description="media_fit: shrink: when smaller pages and frames are not enough, a PDF's last pages are left "
        "out (logged), down to this many.",
    )
    cache_media: Literal["decoded", "tensors"] = Field(
        "decoded",
        description="What the preprocessing cache keeps of each row's media: 'decoded' (the decoded, resized "
        "pixels as uint8, video frames, resampled audio; the processor makes the model's tensors from them when "
        "a batch is built) or 'tensors' (the processor's float tensors: 4-8x larger, no work at batch time). "
        "Both train on bit-identical batches.",
    )
    image_size: int | tuple[int, int] | None = Field(
        None, description="Resize every image and video frame to this (int: square; [w, h])."
    )
    image_resize_algorithm: Literal["bilinear", "bicubic", "lanczos"] = Field(
        "bilinear", description="Resampling filter for image_size."
    )
    video_fps: float = Field(2.0, gt=0, description="Video frames are sampled evenly at this many per second.")
    video_max_frames: int = Field(16, gt=0, description="At most this many frames per video (sampled evenly).")
    pdf_max_pages: int = Field(8, gt=0, description="PDF documents: only the first N pages become images.")
    max_image_pixels: int = Field(
        40_000_000,
        gt=0,
        description="An image with more pixels is decoded at a reduced scale where its format "
        "allows (JPEG), otherwise refused before decoding; bounds memory per image.",
    )
    video_max_pixels: int = Field(
        64_000_000,
        gt=0,
        description="Total pixels of a video's sampled frames: larger frames are scaled down "
        "as they are decoded so that the frames together stay under this.",
    )
    audio_max_seconds: float = Field(
        1800.0,
        gt=0,
        description="Longer audio is refused from its header, before it is decoded.",
    )
    url_timeout: float = Field(30.0, gt=0, description="Media URLs: seconds each attempt may wait for data.")
    url_retries: int = Field(3, ge=0, description="Media URLs: retries after a 5xx, a timeout or a lost connection.")
    url_deadline: float = Field(
        120.0,
        gt=0,
        description="Media URLs: seconds one file may take in all (a trickling server is cut off).",
    )
    url_max_mb: float = Field(20.0, gt=0, description="Media URLs: bodies larger than this many MB are refused.")
    media_roots: list[str] | None = Field(
        None,
        description="Folders that absolute media paths in rows must lie under (relative names always stay "
        "inside the dataset's folder or media_dir). Unset: any absolute path a row lists.",
    )
    allow_private_urls: bool = Field(
        False,
        description="Fetch media URLs whose host is on this machine or a private network (loopback, private, "
        "link-local addresses); refused by default, also on redirects.",
    )
    pdf_dpi: int = Field(72, gt=0, description="PDF documents: pages are rendered at this resolution (dots per inch).")
    train_on_inputs: bool = Field(False, description="Also train on system/user text (never on media or padding).")
    roles_to_train: list[Literal["system", "user", "assistant", "tool"]] = Field(
        default_factory=lambda: ["assistant"],
        description="Roles whose content (and end-of-turn) is trained on: system, user, assistant, tool.",
    )
    train_on_eos: Literal["turn", "last", "all", "none"] = Field(
        "turn",
        description="Which end-of-turn tokens of the model's chat format (<|im_end|>, <end_of_turn>, </s>: the "
        "token an answer ends with) are trained: turn (those of trained messages), last (only the last trained "
        "message's), all (every message's), none. A dataset's own train_on_eos wins.",
    )
    system_message_policy: Literal["fold", "drop", "error"] = Field(
        "fold",
        description="A system message the model's chat format cannot take in that conversation (the family "
        "says when: Voxtral's mistral-common v7 format refuses one beside audio): 'fold' puts its text at the "
        "start of the first user message's text, a blank line between; 'drop' removes it; 'error' makes the row "
        "a bad row naming the reason. fold/drop log one warning per run, and predict applies the same policy.",
    )
    sample_packing: bool = Field(
        False,
        description="Pack several rows into one sequence up to sequence_len, each attending only to itself "
        "(positions restart per row; families that cannot pack are refused, see docs/families.md).",
    )

    @model_validator(mode="after")
    def _held_out(self) -> DataKeys:
        if self.test_datasets and self.val_set_size:
            raise ConfigError("val_set_size and test_datasets both choose the held-out rows; set one of them")
        return self

    @model_validator(mode="before")
    @classmethod
    def _axolotl_aliases(cls, data: Any) -> Any:
        """Axolotl's dataset_num_proc and excess_length_strategy set mmtune's dataset_processes and
        truncation. dataset_num_proc wins over dataset_processes (Axolotl's rule, with a warning); an
        excess_length_strategy that disagrees with an explicit truncation is an error."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        procs, old = data.get("dataset_num_proc"), data.get("dataset_processes")
        if procs is not None:
            if old is not None and old != procs:
                log.warning(
                    "dataset_num_proc (%s) and dataset_processes (%s) are both set; using dataset_num_proc", procs, old
                )
            data["dataset_processes"] = procs
        strategy = data.get("excess_length_strategy")
        if strategy is not None:
            meant = EXCESS_LENGTH.get(strategy)
            if meant is None:
                return data  # the field's own validation names the allowed values
            if data.get("truncation") not in (None, meant):
                raise ValueError(
                    f"excess_length_strategy {strategy!r} means truncation {meant!r}, but truncation is "
                    f"{data['truncation']!r}; set one of them"
                )
            data["truncation"] = meant
        return data
