"""The attention kernel a model is loaded with: the one the config names, per model part.

transformers refuses a kernel for a whole model when one of its parts lacks it (Gemma 4's audio
encoder has no sdpa kernel, several vision towers no flex_attention). Refusing the run for that
would make Axolotl configs that name ``sdpa`` fail on families whose audio part cannot use it, so a
part without the kernel gets eager attention (with a warning naming it) while the rest keeps the
kernel asked for; a model whose own class lacks it is refused before preprocessing.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from mmtune.errors import ConfigError
from mmtune.models.families.base import Family

log = logging.getLogger("mmtune")

_UNSUPPORTED = "does not support an attention implementation"


def _builds(family: type[Family], path: str, attn: Any) -> str | None:
    """None when the model builds with ``attn``, else transformers' reason."""
    try:
        family.meta_model(path, attn_implementation=attn)
    except ValueError as e:
        if _UNSUPPORTED not in str(e):
            raise
        return str(e).split(". ")[0]
    return None


@lru_cache(maxsize=32)
def _resolve(family: type[Family], path: str, impl: str) -> str | tuple[tuple[str, str], ...]:
    why = _builds(family, path, impl)
    if why is None:
        return impl
    from transformers import AutoConfig

    parts = list(AutoConfig.from_pretrained(path).sub_configs)
    for part in parts:
        attn = {"": impl, **dict.fromkeys(parts, impl), part: "eager"}
        if _builds(family, path, attn) is None:
            log.warning("attn_implementation %s: %s; that part (%s) uses eager attention", impl, why, part)
            return tuple(attn.items())
    raise ConfigError(f"attn_implementation {impl!r} cannot be used with this model: {why}; use sdpa or eager")


def attention_for(family: type[Family], path: str, impl: str | None) -> str | dict[str, str] | None:
    """What to pass as ``attn_implementation`` for ``impl`` (None: transformers' own choice)."""
    if not impl or impl == "eager":
        return impl
    try:
        got = _resolve(family, path, impl)
    except ConfigError:
        raise
    except Exception as e:  # a hub id without network, an unusual config: from_pretrained decides
        log.debug("attention kernel not checked early (%s: %s)", type(e).__name__, e)
        return impl
    return got if isinstance(got, str) else dict(got)
