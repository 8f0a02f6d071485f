"""Exports to hosted fine-tuning formats (docs/exports.md): canonical conversations -> one
provider's JSONL, checked against that provider's published rules.

``rules.py`` holds the rules as data, ``checks.py`` the named checks, ``media.py`` reads and
converts media, one module per output shape (``openai``, ``gemini``, ``nova``) renders a row, and
``run.py`` drives ``mmtune export`` and ``mmtune validate --for``. This package reads only
canonical conversations from ``data/`` (never tokens).
"""
