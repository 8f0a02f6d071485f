"""The YAML config: schema (``Config``), parsing, the Axolotl key lists and the reference docs.

Everything a caller needs is importable from ``mmtune.config``; the modules below keep the
schema's sections, the parser and the Axolotl lists apart so each stays readable.
"""

from mmtune.config.axolotl import ALWAYS_PREPROCESSES_KEYS, AXOLOTL_KEYS_WITHOUT_EFFECT
from mmtune.config.datasets import DatasetConfig
from mmtune.config.parse import load_config, parse_config, resolve_paths
from mmtune.config.reference import config_reference
from mmtune.config.schema import Config

__all__ = [
    "ALWAYS_PREPROCESSES_KEYS",
    "AXOLOTL_KEYS_WITHOUT_EFFECT",
    "Config",
    "DatasetConfig",
    "config_reference",
    "load_config",
    "parse_config",
    "resolve_paths",
]
