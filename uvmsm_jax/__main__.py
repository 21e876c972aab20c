"""``python -m uvmsm_jax`` — the same as the ``uvmsm-jax`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
