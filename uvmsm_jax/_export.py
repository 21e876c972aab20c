"""Compiled solvers kept on disk, so a repeated call neither traces, lowers nor compiles them.

A command-line call solves one point. Even with a warm XLA compilation cache, most of its time went
to tracing and lowering the solver (seconds; JAX needs the lowered program to look it up in that
cache). :func:`call_compiled` stores the compiled executable itself (JAX's executable
serialisation) under a key that names everything it depends on — the package's own source and data
files, the JAX version, the backend, its platform version and the CPU's instruction-set flags
(XLA compiles for the host CPU), and the static configuration — and a later call loads it instead:
≈ 0.7 s for the relic solver on a 2-core CPU, XLA's own deserialisation of the machine code.

Loading an executable runs what the file contains (it is pickled, as in XLA's own compilation
cache): the folder must be the user's own.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.resources
import os
import pickle
import platform
import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax._src.lax import linalg as jax_linalg
from jax.experimental import serialize_executable
from jax.experimental.compilation_cache import compilation_cache
from jax.typing import ArrayLike

from ._programs import Program, jit

__all__ = [
    "FOLDER_BUDGET_BYTES",
    "bound_compiled",
    "call_compiled",
    "machine_digest",
    "package_digest",
    "store_ahead",
    "stored_path",
]

SUFFIX = ".jax-executable"
FOLDER_BUDGET_BYTES = 256 * 2**20
"""Largest total size of the stored executables in one folder (the relic solver's is ≈ 5.4 MB on
CPU); storing one more removes the oldest files beyond it. Keys change with every package version,
so without a bound the folder would grow with each upgrade and each settings combination."""


@functools.cache
def package_digest() -> str:
    """sha256 of every file of the installed package (code and data): a changed file is a new key."""
    root = Path(str(importlib.resources.files("uvmsm_jax")))
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.cache
def machine_digest() -> str:
    """The backend, its platform version and the CPU (architecture and, on Linux, its instruction-set
    flags): an executable compiled on one machine is never loaded on another kind."""
    client = jax.devices()[0].client
    parts = [jax.__version__, client.platform, client.platform_version, platform.machine()]
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            parts += sorted({line for line in cpuinfo if line.startswith(("flags", "model name"))})
    except OSError:  # not Linux: the architecture above is all we know
        pass
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def call_compiled(directory: str | os.PathLike, jitted: Program, *args: ArrayLike, **static: Hashable) -> Any:
    """``jitted(*args, **static)`` (an array or a pytree of arrays) run by its executable kept in ``directory`` (compiled and stored
    when missing, unreadable or incomplete).

    ``jitted``: a :class:`~uvmsm_jax._programs.Program` whose keyword arguments ``static`` are static
    (their ``repr`` must name all they hold). The file's key adds the shapes and dtypes of the arguments' leaves (an
    argument may be a pytree of arrays) and the package and machine digests. Only for concrete inputs:
    the executable is not differentiable. Arguments and results must be arrays or containers of
    arrays (tuples, lists, dicts), not ``equinox.Module`` instances: an executable read back from disk
    cannot rebuild a module's tree, so every call would fall back to compiling (hence
    :data:`uvmsm_jax._relic.TableArrays`).
    """
    path = stored_path(directory, jitted, args, static)
    executable = _executable_run_before(path)
    if executable is None:
        with _FIRST_CALLS:  # threads calling the same program: one loads (or compiles and stores) it
            executable = _executable_run_before(path)
            if executable is None:
                return _first_call(path, jitted, args, static)
    return executable(*args)


def stored_path(directory: str | os.PathLike, jitted: Program, args: tuple, static: dict[str, Hashable]) -> Path:
    """The file in ``directory`` that keeps ``jitted``'s executable for ``args`` (only their shapes and
    dtypes count) and the static keyword arguments ``static`` (:func:`call_compiled`)."""
    key = "\n".join(
        (
            f"{jitted.__module__}.{getattr(jitted, '__qualname__', jitted)}",  # a jit function has both
            repr(sorted(static.items())),
            repr([(np.shape(a), _dtype(a).str) for a in jax.tree_util.tree_leaves(args)]),
            package_digest(),
            machine_digest(),
        )
    )
    return Path(directory) / (hashlib.sha256(key.encode()).hexdigest() + SUFFIX)


def store_ahead(
    directory: str | os.PathLike, jitted: Program, lowered: jax.stages.Lowered, *args: ArrayLike, **static: Hashable
) -> None:
    """Compile ``lowered`` (``jitted`` lowered for ``args`` and ``static``) afresh and store it where
    :func:`call_compiled` with the same arguments looks for it, unless a file is there already. For a
    background thread: XLA compiles without the interpreter lock while the caller traces its next
    program (the contour's Newton phase, :func:`uvmsm_jax._contour._compile_root_finding_ahead`); the
    first call then loads the file."""
    path = stored_path(directory, jitted, args, static)
    if _version(path) is None:
        _store(path, _compile_afresh(lowered))


_RAN: set[tuple[Path, int, int]] = set()
"""Stored executables (path, mtime_ns, size) that this process loaded and ran to the end once: later
calls, from any thread, run them without the lock."""
_FIRST_CALLS = threading.Lock()
"""Held while an executable is loaded and first run, or compiled and stored (:func:`_first_call`): the
threads of a batch store a missing file once."""


def _version(path: Path) -> tuple[Path, int, int] | None:
    """(path, mtime_ns, size) of a stored executable, None when there is none."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return path, stat.st_mtime_ns, stat.st_size


def _executable_run_before(path: Path) -> jax.stages.Compiled | None:
    """The executable stored at ``path`` if this process has loaded and run that version of it once;
    None otherwise, or when it is gone (another process trimmed the folder)."""
    version = _version(path)
    if version is None or version not in _RAN:
        return None
    try:
        return _load(*version)
    except Exception:
        _RAN.discard(version)
        return None


def _first_call(path: Path, jitted: Program, args: tuple, static: dict) -> Any:
    """:func:`call_compiled` until the stored executable has run once in this process: loaded and run
    to the end (a defect shows when the result is fetched), else compiled afresh and stored."""
    version = _version(path)
    if version is not None:
        try:
            result = jax.block_until_ready(_load(*version)(*args))
            _RAN.add(version)
            return result
        except Exception:  # truncated, incomplete or written by another serialiser: compile again
            pass
    compiled = _compile_afresh(jitted.lower(*args, **static))
    _store(path, compiled)
    return compiled(*args)


def _store(path: Path, compiled: jax.stages.Compiled) -> None:
    """Write ``compiled`` to ``path`` (atomically: another process reads the old file or the new one)."""
    try:
        text = compiled.as_text()  # its LAPACK custom calls, if any (≈ 0.1 s for the largest program)
        calls_lapack = text is None or "lapack" in text
        payload = pickle.dumps((serialize_executable.serialize(compiled), calls_lapack))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(payload)
        os.replace(tmp, path)
        _trim(path.parent, keep=path)
    except Exception:  # not stored: XLA:CPU cannot serialise an executable this process has run, or
        pass  # the folder is not writable; the answer does not depend on it


def bound_compiled(directory: str | os.PathLike | None, jitted: Program, **static: Hashable) -> Callable[..., Any]:
    """``jitted`` with its static keyword arguments bound: run by :func:`call_compiled` from the
    executable kept in ``directory``, or traced and compiled as usual when ``directory`` is None."""
    if directory is None:
        return functools.partial(jitted, **static)
    return functools.partial(call_compiled, directory, jitted, **static)


@functools.lru_cache(maxsize=16)
def _load(path: Path, mtime_ns: int, size: int) -> jax.stages.Compiled:
    """The executable stored at ``path``, loaded once per process and file version (``mtime_ns``, ``size``):
    the chunks of one batch (:func:`~uvmsm_jax._batching.chunk_size`) reuse it, and the stages of a
    batch with shared rate tables (up to 5 programs, called in turn) stay loaded together."""
    serialized, calls_lapack = pickle.loads(path.read_bytes())
    if calls_lapack:
        _lapack_ready()
    return serialize_executable.deserialize_and_load(*serialized)


@functools.cache
def _lapack_ready() -> None:
    """Make jaxlib's LAPACK kernels callable in this process before an executable that calls them is
    loaded (:func:`_store` records whether it does).

    On CPU, XLA calls LAPACK (an LU, a triangular solve: the contour's root finder has both) through
    kernels whose LAPACK routines jaxlib looks up the first time a program using one is lowered. An
    executable read from disk is never lowered, so in a process that had lowered no such program
    it called a routine not yet looked up: the process crashed (a segmentation fault, jax 0.10.2).
    JAX's own loader of exported programs initialises LAPACK first for the same reason
    (``jax._src.lax.linalg.initialize_lapack``), and so does this; should that private name move,
    lowering a 2 × 2 solve has the same effect. It takes ≈ 0.2 s (jaxlib imports SciPy's LAPACK),
    which the relic solver, without LAPACK calls, does not pay (a warm command is ≈ 1.3 s)."""
    initialize = getattr(jax_linalg, "initialize_lapack", None)
    if initialize is not None:
        initialize()
    else:
        jit(jnp.linalg.solve).lower(np.eye(2), np.ones(2))


def _dtype(a: ArrayLike) -> np.dtype:
    """The dtype of an array (NumPy or JAX) or of a Python scalar."""
    return np.dtype(a.dtype) if hasattr(a, "dtype") else np.result_type(a)


FRESH_COMPILE_OPTIONS: dict[str, str | bool] = {"xla_embed_ir_in_executable": False}
"""XLA options of a compilation to be stored: XLA's default value, so the same machine code, but a key of
its own in JAX's in-memory cache of compiled programs. Without it, a program this process had already
run (read from the persistent cache) came back from memory and was stored in that incomplete form."""


def _compile_afresh(lowered: jax.stages.Lowered) -> jax.stages.Compiled:
    """``lowered`` compiled by XLA, never read from JAX's compilation caches: on CPU an executable
    loaded from the persistent cache serialises without some of its functions (jax 0.10.2: loading
    it again fails with "Function … not found"). Whether that cache is used is decided once per
    process, hence the resets (under :data:`_AFRESH`); :data:`FRESH_COMPILE_OPTIONS` keeps the
    in-memory cache out."""
    with _AFRESH:
        enabled = getattr(jax.config, "jax_enable_compilation_cache", True)  # an attribute the stubs lack
        jax.config.update("jax_enable_compilation_cache", False)
        compilation_cache.reset_cache()
        try:
            return lowered.compile(compiler_options=FRESH_COMPILE_OPTIONS)
        finally:
            jax.config.update("jax_enable_compilation_cache", enabled)
            compilation_cache.reset_cache()


_AFRESH = threading.Lock()
"""Held by :func:`_compile_afresh` while JAX's persistent cache is switched off: two threads never flip
that global switch at once (a first call, :func:`_first_call`, and a compilation ahead,
:func:`store_ahead`)."""


def _trim(directory: Path, keep: Path) -> None:
    """Remove the oldest stored executables (by modification time) until the folder's total is at most
    :data:`FOLDER_BUDGET_BYTES`; ``keep``, the one just stored, stays. Files another process removes
    meanwhile are skipped."""
    files = []
    for path in directory.glob("*" + SUFFIX):
        with contextlib.suppress(OSError):
            stat = path.stat()
            files.append((stat.st_mtime_ns, stat.st_size, path))
    total = sum(size for _, size, _ in files)
    for _, size, path in sorted(files):
        if total <= FOLDER_BUDGET_BYTES:
            break
        if path != keep:
            with contextlib.suppress(OSError):
                path.unlink()
            total -= size
