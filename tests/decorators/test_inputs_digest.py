"""Attack: arguments whose ``repr`` differs between processes must not make a retry call the function again.

The digest decides whether a retry re-uses the stored request (one bill) or calls the function
again (a new request, a new bill). Each try parses the DAG file in a new process, so a set (its
order follows the per-process string hash seed) or an object with the default ``repr`` (its memory
address) must give the same digest in every process.
"""

from __future__ import annotations

import os
import subprocess
import sys

from airflow_provider_videogen.decorators.function_request import inputs_digest

SCRIPT = """
from airflow_provider_videogen.decorators.function_request import inputs_digest

class Style:
    def __init__(self, mood):
        self.mood = mood

def clip(topics, style):
    return ", ".join(sorted(topics))

topics = {"harbour", "forest", "desert", "glacier", "city"}
print(inputs_digest(clip, [], {"topics": topics, "style": Style("calm")}, {}))
"""


def _digest_in_new_process(seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_digest_is_the_same_in_every_process_for_sets_and_objects_with_the_default_repr() -> None:
    digests = {_digest_in_new_process(seed) for seed in ("1", "2")}
    assert len(digests) == 1


class _Style:
    def __init__(self, mood: str) -> None:
        self.mood = mood


def _clip(style: _Style) -> str:
    return style.mood


def test_an_object_argument_that_changed_changes_the_digest() -> None:
    """Stable must not mean blind: a cleared task whose argument changed calls the function again."""
    assert inputs_digest(_clip, [], {"style": _Style("calm")}, {}) == inputs_digest(
        _clip, [], {"style": _Style("calm")}, {}
    )
    assert inputs_digest(_clip, [], {"style": _Style("calm")}, {}) != inputs_digest(
        _clip, [], {"style": _Style("wild")}, {}
    )
