"""VideoRemixOperator sends every reference form over real HTTP; the simulator records what arrived.

The operator's ``execute`` runs here with a small in-memory context (``wait_for_completion=False``:
the create is what matters), so each form costs one request instead of a whole ``dag.test()``.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_videogen.operators.reattach import RECORD_KEY
from airflow_provider_videogen.operators.remix import VideoRemixOperator
from airflow_provider_videogen.references import data_uri

if TYPE_CHECKING:
    from pathlib import Path

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(255, -1, -1)) * 4
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x07" * 512
URL = "https://images.example.com/style.png"
MODEL = "veo_3_1-fast-remix"
FL_MODEL = "veo_3_1-fast-fl-remix"


class FakeTI:
    try_number = 1

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


class FakeStore:
    """The task state store's get/set/delete, in memory."""

    def __init__(self) -> None:
        self.rows: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.rows.get(key)

    def set(self, key: str, value: Any, retention: Any = None) -> None:
        self.rows[key] = value

    def delete(self, key: str) -> None:
        self.rows.pop(key, None)


def run(references: Any, *, model: str = MODEL, store: FakeStore | None = None) -> dict[str, Any]:
    op = VideoRemixOperator(
        task_id="remix",
        model=model,
        prompt="a lighthouse at dusk",
        prompt_extend="the camera flies out to sea",
        size="1280x720",
        input_references=references,
        wait_for_completion=False,
    )
    context: dict[str, Any] = {"ti": FakeTI(), "task_state_store": store or FakeStore()}
    return op.execute(context)  # type: ignore[arg-type,no-any-return]


def received(simulator: Any) -> list[dict[str, Any]]:
    stats = simulator.stats()
    assert stats["remix"]["creates"] == 1, stats["remix"]
    assert stats["remix"]["creates_accepted"] == 1, stats["remix"]
    record = stats["remix_requests"][-1]
    assert record["content_type"] == "multipart/form-data"
    assert record["fields"]["prompt_extend"] == "the camera flies out to sea"
    assert record["unknown_fields"] == []
    return record["input_references"]  # type: ignore[no-any-return]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def sim(simulator: Any, videogen_conn: str) -> Any:
    return simulator


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    paths = {"png": tmp_path / "first.png", "jpg": tmp_path / "second.jpg", "webp": tmp_path / "third.webp"}
    for (_, path), data in zip(paths.items(), (PNG, JPEG, WEBP), strict=True):
        path.write_bytes(data)
    return paths


def test_local_path_as_str_and_as_path_is_a_file_part(sim: Any, images: dict[str, Path]) -> None:
    result = run([str(images["png"]), images["jpg"]], model=FL_MODEL)
    refs = received(sim)
    assert [(r["kind"], r["filename"], r["content_type"], r["size"], r["sha256"]) for r in refs] == [
        ("file", "first.png", "image/png", len(PNG), sha(PNG)),
        ("file", "second.jpg", "image/jpeg", len(JPEG), sha(JPEG)),
    ]
    assert result["id"] == sim.stats()["remix_requests"][-1]["task_id"]
    assert result["remix_id"]
    assert result["partial"] is False


def test_object_storage_path_is_read_and_sent_as_a_file_part(sim: Any, images: dict[str, Path]) -> None:
    run([ObjectStoragePath(images["webp"].as_uri())])
    (ref,) = received(sim)
    assert (ref["kind"], ref["filename"], ref["content_type"], ref["sha256"]) == (
        "file",
        "third.webp",
        "image/webp",
        sha(WEBP),
    )


def test_url_is_sent_as_text(sim: Any) -> None:
    run(URL)  # a single reference needs no list
    assert [(r["kind"], r["url"]) for r in received(sim)] == [("url", URL)]


def test_bytes_are_sent_as_a_file_part(sim: Any) -> None:
    run([JPEG])
    (ref,) = received(sim)
    assert (ref["kind"], ref["filename"], ref["content_type"], ref["sha256"]) == (
        "file",
        "reference.jpg",
        "image/jpeg",
        sha(JPEG),
    )


def test_data_uri_is_sent_as_text(sim: Any) -> None:
    uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    run([uri])
    (ref,) = received(sim)
    assert (ref["kind"], ref["content_type"], ref["size"], ref["sha256"]) == (
        "data_uri",
        "image/png",
        len(PNG),
        sha(PNG),
    )


def test_mixed_forms_keep_their_order_on_a_first_last_model(sim: Any, images: dict[str, Path]) -> None:
    run([data_uri(JPEG), images["png"]], model=FL_MODEL)  # first frame as text, last frame as a file part
    first, last = received(sim)
    assert (first["index"], first["kind"], first["sha256"]) == (0, "data_uri", sha(JPEG))
    assert (last["index"], last["kind"], last["filename"], last["sha256"]) == (1, "file", "first.png", sha(PNG))


def test_all_five_forms_mixed_in_order(sim: Any, images: dict[str, Path]) -> None:
    # A reference model takes three; send every form across two requests to cover all five, in order.
    run([URL, images["png"], PNG])
    assert [(r["index"], r["kind"]) for r in received(sim)] == [(0, "url"), (1, "file"), (2, "file")]
    sim.reset()
    run([ObjectStoragePath(images["jpg"].as_uri()), data_uri(PNG), str(images["webp"])])
    refs = received(sim)
    assert [(r["kind"], r.get("content_type")) for r in refs] == [
        ("file", "image/jpeg"),
        ("data_uri", "image/png"),
        ("file", "image/webp"),
    ]


def test_the_reattach_record_holds_a_small_fingerprint_not_the_bytes(sim: Any, images: dict[str, Path]) -> None:
    store = FakeStore()
    big = images["png"].parent / "big.png"
    big.write_bytes(PNG + b"\x00" * 3_000_000)
    run([big, URL], store=store)
    record = store.rows[RECORD_KEY]
    assert len(str(record)) < 1000
    assert len(record["fingerprint"]) == 32
    # The same request re-attaches (no second create); other bytes under the same name would not.
    again = run([big, URL], store=store)
    assert again["id"] == record["id"]
    assert sim.stats()["remix"]["creates"] == 1
    big.write_bytes(PNG + b"\x01" * 3_000_000)
    run([big, URL], store=store)
    assert sim.stats()["remix"]["creates"] == 2
