"""Attacks on the stored request. Arguments whose ``repr`` differs between processes must not
make a retry call the function again.

The digest decides whether a retry re-uses the stored request (one bill) or calls the function
again (a new request, a new bill). Each try parses the DAG file in a new process, so a set (its
order follows the per-process string hash seed) or an object with the default ``repr`` (its memory
address) must give the same digest in every process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from typing import Any

import pytest
from airflow.sdk import DAG, task
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_videogen.decorators.function_request import StoredRequest, inputs_digest, seal, unseal
from airflow_provider_videogen.operators.reattach import RECORD_KEY

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


SIGNED = "https://bucket.s3.example.com/refs/first.png?X-Amz-Signature=0123456789abcdef0123456789abcdef"


def test_a_stored_request_is_unreadable_and_unforgeable_without_the_api_key() -> None:
    """Attack: read a signed link from the task state store (REST API, task-instance access), or
    edit the stored copy so the retry submits something else."""
    sealed = seal({"prompt": "A heron", "image_urls": [SIGNED]}, "sk-real")
    assert "X-Amz-Signature" not in sealed
    assert "heron" not in sealed
    assert unseal(sealed, "sk-real") == {"prompt": "A heron", "image_urls": [SIGNED]}
    assert unseal(sealed, "sk-rotated") is None
    forged = seal({"prompt": "something else", "model": "the priciest"}, "sk-guessed")
    assert unseal(forged, "sk-real") is None
    assert unseal(sealed[:-4] + "AAAA", "sk-real") is None


class _Store:
    """Airflow's task state store, as far as these reads go (get by key)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def get(self, key: str) -> Any:
        return self.values.get(key)


def test_an_unreadable_stored_request_refuses_once_a_task_was_submitted(videogen_conn: str) -> None:
    """Calling the function again could then pay for a second video: refuse, saying what to delete.
    Before anything was submitted, the function simply runs again (no lock without a bill)."""

    @task.videogen(model="veo3.1-fast", duration=4)
    def clip() -> str:
        return "A heron"

    with DAG("sealed", schedule=None, start_date=datetime(2026, 1, 1)):
        operator = clip().operator
    stored = StoredRequest(inputs="x", sealed=seal({"prompt": "A heron"}, "sk-another-key"), try_number=1)
    assert operator._unseal(stored, _Store({}), None) is None
    record = {"id": "task-1", "api": "generation", "fingerprint": "f", "submitted_at": "2026-01-01T00:00:00Z"}
    with pytest.raises(AirflowFailException, match=r"cannot be read.*not calling the function again"):
        operator._unseal(stored, _Store({RECORD_KEY: record}), None)


def test_arguments_with_mixed_key_types_give_a_digest() -> None:
    """Attack: ``{1: "a", "b": 2}`` made ``json.dumps(sort_keys=True)`` raise TypeError on every try."""
    digest = inputs_digest(_clip, [{1: "a", "b": 2}], {"style": {None: 1, 2.5: [3]}}, {})
    assert digest == inputs_digest(_clip, [{"b": 2, 1: "a"}], {"style": {2.5: [3], None: 1}}, {})
    assert digest != inputs_digest(_clip, [{"1": "a", "b": 2}], {"style": {None: 1, 2.5: [3]}}, {})


def test_a_signed_image_link_the_function_returns_is_masked() -> None:
    """Attack: the function returns a presigned ``image_urls`` link; the decorated task writes its
    rendered fields after execution, so the UI's Rendered Template tab would show the signature."""
    from airflow.sdk._shared.secrets_masker import redact

    @task.videogen(model="veo3.1-fast", duration=4)
    def clip() -> str:
        return "A heron"

    with DAG("masked_image", schedule=None, start_date=datetime(2026, 1, 1)):
        operator = clip().operator
    operator._set_fields({"prompt": "A heron", "image_urls": [SIGNED]})
    assert "0123456789abcdef0123456789abcdef" not in str(redact(SIGNED))
