"""docs/equations.md is complete and the repository reads on its own.

* Every equation, section, part and known-issue label cited anywhere in the repository (code, tests,
  benchmarks, notebooks, docs, README) is defined in docs/equations.md, and defined once.
* No file of the repository names the private specification the reference was written from.
* No Markdown page of docs/ or the README links to a path outside the repository.

Fast and dependency-free (no JAX): it only reads text files.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "equations.md"

# How labels are cited (the same pattern as the documented grep):
# "(A36)" equation, "K13"/"KF7" known issue or finding, "A.8.1" section, "Part B" part.
CITATION = re.compile(
    r"\((?:A|B|C|D|E|F|G|H|K|N|W|KF)[0-9]+[a-z]?\)"
    r"|\b(?:K|KF)[0-9]+\b"
    r"|\b[A-HNW]\.[0-9]+(?:\.[0-9]+)*\b"
    r"|Part [A-Z]+\b"
)

# How docs/equations.md defines them (one fixed form each).
DEF_EQUATION = re.compile(r"^\*\*\(([A-Z]+[0-9]+[a-z]?[′']?)\)\*\*", re.M)
DEF_FINDING = re.compile(r"^\*\*((?:K|KF)[0-9]+)\*\* —", re.M)
DEF_SECTION = re.compile(r"^#{2,6} ([A-HNW]\.[0-9]+(?:\.[0-9]+)*) ", re.M)
DEF_PART = re.compile(r"^#{1,6} (Part [A-Z]+) — ", re.M)

# Bare citations right after the file name ("docs/equations.md A39", "… E1.22", "… G1–G5"), which the
# pattern above does not see; they may also name rows of the validation tables (E1.22, XS1, W1.3, …).
BARE_CITATION = re.compile(
    r"equations\.md[,;:]?\s+(Part [A-Z]+|[A-Z]{1,2}[0-9]+(?:\.[0-9]+)?[′']?|[A-HNW](?:\.[0-9]+)+)\b"
    r"(?:\s*[–-]\s*([A-Z]{1,2}[0-9]+)\b)?"
)
DEF_TABLE_ROW = re.compile(r"^\| (E[0-9]+\.[0-9]+|W[0-9]+\.[0-9]+|XS[0-9]+|M2-[A-Z]+) \|", re.M)

CITING_DIRS = ("uvmsm_jax", "tests", "benchmarks", "notebooks", "docs")
CITING_SUFFIXES = (".py", ".md", ".ipynb")
SKIP_DIRS = {".git", ".venv", "venv", "build", "dist", "__pycache__", ".pytest_cache", ".ipynb_checkpoints"}

# The name of the private specification, assembled so that this file does not contain it.
FORBIDDEN_NAME = "PHYS" + "ICS" + "." + "md"


def _repository_files() -> list[Path]:
    """Files of the working tree that belong to the repository (tracked or not ignored)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout
        names = sorted({n for n in out.decode("utf-8", "surrogateescape").split("\0") if n})
        files = [ROOT / n for n in names]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: walk, skipping tool folders
        files = []
        for dirpath, dirnames, filenames in os.walk(ROOT):
            dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
            files.extend(Path(dirpath) / f for f in filenames)
    return [f for f in files if f.is_file()]  # index entries deleted from the working tree are skipped


def _text_of(path: Path) -> str:
    """Text in which labels are searched; for notebooks only the cell sources (not base64 outputs)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(text).get("cells", [])
        except json.JSONDecodeError:
            return text
        return "\n".join(
            "".join(c.get("source", "")) if isinstance(c.get("source"), list) else str(c.get("source", ""))
            for c in cells
        )
    return text


def _citing_files(files: list[Path]) -> list[Path]:
    out = []
    for f in files:
        rel = f.relative_to(ROOT)
        if f == DOC or f.suffix not in CITING_SUFFIXES:
            continue
        if rel.parts[0] in CITING_DIRS or rel == Path("README.md"):
            out.append(f)
    return out


def _normalise(citation: str) -> str:
    return citation[1:-1] if citation.startswith("(") else citation


def _defined_labels() -> Counter:
    text = DOC.read_text(encoding="utf-8")
    found = Counter()
    for pattern in (DEF_EQUATION, DEF_FINDING, DEF_SECTION, DEF_PART):
        found.update(m.group(1) for m in pattern.finditer(text))
    return found


def test_every_cited_label_is_defined():
    defined = _defined_labels()
    cited: dict[str, list[str]] = defaultdict(list)
    for path in _citing_files(_repository_files()):
        for lineno, line in enumerate(_text_of(path).splitlines(), 1):
            for m in CITATION.finditer(line):
                cited[_normalise(m.group(0))].append(f"{path.relative_to(ROOT)}:{lineno}")
    assert len(cited) > 100, f"suspiciously few citations found ({len(cited)}): is the repository layout changed?"
    missing = {label: where for label, where in cited.items() if label not in defined}
    report = "\n".join(
        f"  {label}: cited at {', '.join(where[:5])}{' …' if len(where) > 5 else ''}"
        for label, where in sorted(missing.items())
    )
    assert not missing, f"{len(missing)} label(s) cited but not defined in docs/equations.md:\n{report}"


def test_every_bare_citation_is_defined():
    text = DOC.read_text(encoding="utf-8")
    defined = set(_defined_labels()) | set(DEF_TABLE_ROW.findall(text)) | {"W2"}  # W2: bold case of W.4
    missing = defaultdict(list)
    for path in _citing_files(_repository_files()):
        for lineno, line in enumerate(_text_of(path).splitlines(), 1):
            for m in BARE_CITATION.finditer(line):
                for label in filter(None, m.groups()):
                    if label not in defined:
                        missing[label].append(f"{path.relative_to(ROOT)}:{lineno}")
    report = "\n".join(f"  {label}: cited at {', '.join(where[:5])}" for label, where in sorted(missing.items()))
    assert not missing, f"labels cited as 'docs/equations.md LABEL' but not defined:\n{report}"


def test_labels_are_defined_once():
    defined = _defined_labels()
    duplicates = sorted(label for label, n in defined.items() if n > 1)
    assert not duplicates, f"labels defined more than once in docs/equations.md: {duplicates}"
    # the reference covers every part, with the equation ranges it is known to contain
    for part in "ABCDEFGHKNW":
        assert f"Part {part}" in defined, f"Part {part} has no heading"
    for prefix, last in (("G", 19), ("A", 54), ("B", 23), ("C", 20), ("D", 7), ("H", 24), ("W", 22)):
        absent = [f"{prefix}{i}" for i in range(1, last + 1) if f"{prefix}{i}" not in defined]
        assert not absent, f"equations not defined: {absent}"
    absent = [f"K{i}" for i in [*range(1, 47), *range(50, 62)] if f"K{i}" not in defined]
    absent += [f"KF{i}" for i in range(1, 11) if f"KF{i}" not in defined]
    assert not absent, f"known issues not defined: {absent}"


def test_no_file_names_the_private_specification():
    needle = FORBIDDEN_NAME.encode()
    offenders = [str(f.relative_to(ROOT)) for f in _repository_files() if needle in f.read_bytes()]
    assert not offenders, f"files that name {FORBIDDEN_NAME!r}: {offenders}"


LINK_TARGET = re.compile(r"\]\(\s*<?([^)\s>]+)")  # [text](target) and ![alt](target)
HTML_TARGET = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""")
RELATIVE_PATH = re.compile(r"(?<![\w/.])((?:\.\./)+[^\s)`'\"<>|]*)")  # ../ paths named in plain text
URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def test_docs_do_not_point_outside_the_repository():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    outside = []
    for page in pages:
        if not page.is_file():
            continue
        text = page.read_text(encoding="utf-8")
        targets = {*LINK_TARGET.findall(text), *HTML_TARGET.findall(text), *RELATIVE_PATH.findall(text)}
        for target in sorted(targets):
            if URL_SCHEME.match(target) or target.startswith("#"):
                continue
            path = target.split("#", 1)[0].split("?", 1)[0]
            if not path:
                continue
            resolved = Path(path) if path.startswith("/") else (page.parent / path)
            if not resolved.resolve().is_relative_to(ROOT):
                outside.append(f"{page.relative_to(ROOT)}: {target}")
    assert not outside, "links or paths outside the repository:\n  " + "\n  ".join(outside)
