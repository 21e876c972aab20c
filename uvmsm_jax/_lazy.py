"""Modules imported on their first use instead of with the package."""

from __future__ import annotations

import importlib
import types
from typing import Any

__all__ = ["LazyModule"]


class LazyModule(types.ModuleType):
    """Stand-in for the module ``name``: the first attribute read imports it, every read is answered
    by the real module (``importlib.import_module``, so thread-safe and the same module object that
    ``import name`` gives elsewhere).

    The solver libraries (diffrax, optimistix, lineax: ≈ 0.4–0.5 s of a 2-core CPU, a third of a
    warm command-line call) are needed only to trace a solve. A call answered by a stored executable
    (``relic(..., export_cache=...)``, the CLI) never traces one and so never imports them.
    """

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self.__name__), attribute)
