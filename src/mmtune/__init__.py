"""mmtune: fine-tune vision-, audio- and video-language models from one YAML file."""

__version__ = "0.1.0"
