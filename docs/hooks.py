"""MkDocs hook (mkdocs.yml ``hooks:``): add files that live outside ``docs/`` to the site.

* ``notebooks/*.ipynb`` -> ``notebooks/<name>.ipynb`` in the site, rendered by mkdocs-jupyter
  (not executed). This hook runs before mkdocs-jupyter's ``on_files`` (higher event priority), so
  the plugin sees the notebooks as ordinary docs files.
* ``uvmsm_jax/data/PROVENANCE.md`` -> ``provenance.md`` (data licences and citations).
* Sphinx cross-reference roles in docstrings (``:func:`~uvmsm_jax.ship.ship_reach```), which Markdown
  leaves as text, become code with an optional mkdocs-autorefs link: linked when the target is
  documented on the site, plain code (no warning) otherwise.
* The notebook pages lose nbconvert's empty ``<script src="">`` (its MathJax 2 loader with no URL; the
  site loads MathJax 3 itself, see mkdocs.yml ``extra_javascript``).

Paths are relative to the directory of mkdocs.yml, so the build works from any clone or copy.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

_NOTEBOOKS = "notebooks"
_PROVENANCE = Path("uvmsm_jax", "data", "PROVENANCE.md")
# `:func:`x`` after Markdown: ":func:<code>x</code>" (also :py:func:, ~ = show the last component).
_ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|attr|data|obj|exc|const):<code>([~!]?)([\w.]+)</code>")
_PAGE_IDS = re.compile(r'id="(uvmsm_jax(?:\.\w+)*)"')  # headings of the objects mkdocstrings documented


def _root(config) -> Path:
    return Path(config.config_file_path).resolve().parent


def on_config(config):
    # `mkdocs serve` also rebuilds when a notebook or the provenance file changes.
    root = _root(config)
    config.watch.extend([str(root / _NOTEBOOKS), str(root / _PROVENANCE)])
    return config


@event_priority(100)
def on_files(files: Files, config) -> Files:
    root = _root(config)
    notebooks = sorted((root / _NOTEBOOKS).glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"docs/hooks.py: no notebooks in {root / _NOTEBOOKS}")
    for nb in notebooks:
        files.append(
            File(
                f"{_NOTEBOOKS}/{nb.name}",
                src_dir=str(root),
                dest_dir=config.site_dir,
                use_directory_urls=config.use_directory_urls,
            )
        )
    files.append(File.generated(config, "provenance.md", abs_src_path=str(root / _PROVENANCE)))
    return files


def on_page_content(html: str, page, config, files) -> str:
    # Runs before mkdocs-autorefs resolves <autoref> elements (its on_env). A relative name
    # (`:func:`hubble_rate``) is looked up among the objects documented on the same page.
    documented = sorted(set(_PAGE_IDS.findall(html)), key=len)

    def to_autoref(match: re.Match) -> str:
        prefix, target = match.group(1), match.group(2)
        shown = target.rsplit(".", 1)[-1] if prefix == "~" else target
        if not target.startswith("uvmsm_jax"):
            target = next((i for i in documented if i.endswith("." + target)), target)
        return f'<autoref identifier="{target}" optional><code>{shown}</code></autoref>'

    html = _ROLE.sub(to_autoref, html)
    return html.replace('<script src=""> </script>', "")
