"""Every import path the README shows works: a restructure cannot break a user's DAG silently.

Two kinds of references are checked: ``from airflow_provider_videogen... import a, b`` lines in
the README's code blocks, and dotted names in its prose (``airflow_provider_videogen.frames.extract_frame``,
``python -m airflow_provider_videogen.testing.seaweedfs``), each resolved as a module or as an
attribute of its parent module.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
FROM_IMPORT = re.compile(r"^\s*from (airflow_provider_videogen(?:\.\w+)*) import ([\w, ()]+)$", re.MULTILINE)
DOTTED = re.compile(r"\bairflow_provider_videogen(?:\.\w+)+")


def _code_blocks(text: str) -> str:
    return "\n".join(re.findall(r"```\w*\n(.*?)```", text, re.DOTALL))


def _readme_imports() -> list[tuple[str, str]]:
    names = []
    for module, imported in FROM_IMPORT.findall(_code_blocks(README.read_text())):
        names += [(module, name.strip()) for name in imported.strip("()").split(",") if name.strip()]
    return sorted(set(names))


def _readme_dotted_names() -> list[str]:
    return sorted(set(DOTTED.findall(README.read_text())))


def _resolve(dotted: str) -> object:
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError as exc:
        if exc.name != dotted:
            raise
    module, _, attribute = dotted.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def test_the_readme_shows_imports_at_all() -> None:
    shown = {module for module, _ in _readme_imports()}

    assert {
        "airflow_provider_videogen.operators.videogen",
        "airflow_provider_videogen.operators.remix",
        "airflow_provider_videogen.transfers.video_to_s3",
    } <= shown


@pytest.mark.parametrize(("module", "name"), _readme_imports())
def test_readme_import_works(module: str, name: str) -> None:
    assert getattr(importlib.import_module(module), name) is not None


@pytest.mark.parametrize("dotted", _readme_dotted_names())
def test_readme_dotted_name_resolves(dotted: str) -> None:
    assert _resolve(dotted) is not None
