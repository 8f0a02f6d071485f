"""``python -m mmtune``: the CLI, so launchers that start modules (``torchrun -m mmtune``,
``accelerate launch -m mmtune``) run it in each process without a script path."""

import sys

from mmtune.cli import main

if __name__ == "__main__":
    sys.exit(main())
