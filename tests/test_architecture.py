"""The package's structure (issue 12): library free of CLI code, no private names across modules,
no model-name branches outside the registry, public API with ``__all__`` and ``__version__``."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import pathlib
import pkgutil

import pytest

import uvmsm_jax as uj
from uvmsm_jax.models import MODELS

PACKAGE = pathlib.Path(uj.__file__).parent
LIBRARY_FILES = sorted(
    p for p in PACKAGE.rglob("*.py") if "cli" not in p.relative_to(PACKAGE).parts and p.name != "__main__.py"
)
"""Everything but the CLI package and ``python -m uvmsm_jax`` (which runs the CLI)."""
ALL_FILES = sorted(PACKAGE.rglob("*.py"))


def _tree(path: pathlib.Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imported_modules(path: pathlib.Path) -> list[tuple[str, list[str], int]]:
    """(absolute module, imported names, line) for every import of ``path``."""
    package = ".".join(("uvmsm_jax", *path.relative_to(PACKAGE).with_suffix("").parts))
    if path.name == "__init__.py":
        package = package.rsplit(".", 1)[0] + ".__init__"
    out = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            out += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: -node.level]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.append((module, [alias.name for alias in node.names], node.lineno))
    return out


def test_library_modules_do_not_import_the_cli_or_argparse():
    offenders = []
    for path in LIBRARY_FILES:
        for module, names, line in _imported_modules(path):
            targets = [module] + [f"{module}.{name}" for name in names]
            if any(t == "argparse" or t == "uvmsm_jax.cli" or t.startswith("uvmsm_jax.cli.") for t in targets):
                offenders.append(f"{path.relative_to(PACKAGE)}:{line} imports {module} {names}")
    assert not offenders, "\n".join(offenders)


def test_no_module_imports_another_modules_private_names():
    """``from .x import _name`` is how private helpers leak; public names of private modules are fine."""
    offenders = []
    for path in ALL_FILES:
        for module, names, line in _imported_modules(path):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private:
                offenders.append(f"{path.relative_to(PACKAGE)}:{line}: from {module} import {private}")
    assert not offenders, "\n".join(offenders)


PUBLIC_UNDERSCORE_NAMES = {"os._exit"}
"""Documented standard-library functions whose names start with an underscore."""


def test_no_private_attribute_of_another_module_is_used():
    """``module._name`` on an imported module (e.g. ``relic._config``) is the other way to leak."""
    offenders = []
    for path in ALL_FILES:
        tree = _tree(path)
        modules = {
            alias.asname or alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        modules |= {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level
            for alias in node.names
            if alias.name.islower()
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and f"{node.value.id}.{node.attr}" not in PUBLIC_UNDERSCORE_NAMES
            ):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value.id}.{node.attr}")
    assert not offenders, "\n".join(offenders)


SM_CURRENTS = {"b-l", "em"}
"""Names of the mediator's SM current (``VectorPortal.current``): physics, not model names, although
"b-l" is also an alias of the uvmsm model."""


def _model_spellings() -> set[str]:
    spellings = set()
    for spec in MODELS.values():
        spellings |= {spec.name, *spec.aliases}
    return spellings - SM_CURRENTS


def test_no_model_name_branches_outside_the_registry():
    """Comparisons with a model name (``model == "uvmsm"``, ``kind in ("dark-photon", …)``) belong in
    ``models.py``; everywhere else the registry's data and methods decide."""
    spellings = _model_spellings()
    offenders = []
    for path in ALL_FILES:
        if path.name == "models.py":
            continue
        for node in ast.walk(_tree(path)):
            if not isinstance(node, ast.Compare):
                continue
            constants = [c for c in ast.walk(node) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
            hits = [c.value for c in constants if c.value in spellings]
            if hits:
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: compares with {hits}")
    assert not offenders, "\n".join(offenders)


def test_every_program_is_compiled_through_the_package_jit():
    """``jax.jit`` and ``equinox.filter_jit`` are used only in ``_programs.py``: every other module takes
    ``_programs.jit`` / ``filter_jit``, which compile with the package's XLA options."""
    offenders = []
    for path in ALL_FILES:
        if path.name == "_programs.py":
            continue
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Attribute) and node.attr in ("jit", "filter_jit"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {ast.unparse(node)}")
            elif isinstance(node, ast.ImportFrom) and node.module in ("jax", "equinox"):
                names = [a.name for a in node.names if a.name in ("jit", "filter_jit")]
                offenders += [
                    f"{path.relative_to(PACKAGE)}:{node.lineno}: from {node.module} import {n}" for n in names
                ]
    assert not offenders, "\n".join(offenders)


def test_public_api_all_and_version():
    assert uj.__version__ == importlib.metadata.version("uvmsm-jax")
    assert len(set(uj.__all__)) == len(uj.__all__)
    for name in uj.__all__:
        assert hasattr(uj, name), name
    for name in (
        "relic",
        "scan",
        "contour",
        "widths",
        "thermalisation",
        "Status",
        "Mechanism",
        "MODELS",
        "model_spec",
        "register_model",
        "pipeline",
    ):
        assert name in uj.__all__, name


@pytest.mark.parametrize(
    "info",
    [m for m in pkgutil.walk_packages(uj.__path__, "uvmsm_jax.") if not m.name.rsplit(".", 1)[-1].startswith("_")],
    ids=lambda m: m.name,
)
def test_public_modules_are_not_shadowed(info):
    """Every public submodule is reachable as itself: no function of the same name hides it."""
    module = importlib.import_module(info.name)
    parent_name, _, child = info.name.rpartition(".")
    parent = importlib.import_module(parent_name)
    assert getattr(parent, child, module) is module, f"{parent_name}.{child} is not the module"


def test_status_and_mechanism_codes_are_documented_enums():
    assert [int(s) for s in uj.Status] == sorted(int(s) for s in uj.Status)
    for status in uj.Status:
        assert status.__doc__ and uj.STATUS_MESSAGES[status] == status.message
    assert tuple(m.label for m in uj.Mechanism) == uj.MECHANISMS
    for spec in MODELS.values():
        assert set(spec.mechanisms) <= set(uj.Mechanism)
