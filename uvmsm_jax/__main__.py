"""``python -m uvmsm_jax`` — the same as the ``uvmsm-jax`` command."""

from .cli import console_script

if __name__ == "__main__":
    console_script()
