"""Fixtures of the Videos view tests: Airflow's real api-server app (plugins included) and its tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def airflow_api(monkeypatch: pytest.MonkeyPatch, airflow_db: object) -> Iterator[Any]:
    """Airflow's api-server app in this process (a ``TestClient``), with the simple auth manager."""
    from fastapi.testclient import TestClient

    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "videos-view-test-secret")
    monkeypatch.setenv(
        "AIRFLOW__CORE__AUTH_MANAGER", "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
    )
    from airflow.api_fastapi.app import create_app

    with TestClient(create_app("core")) as client:
        yield client


def token(role: str | None) -> dict[str, str]:
    """The ``Authorization`` header of a user with ``role`` (``None``: no access to any DAG)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    made = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=f"u-{role}", role=role))  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {made}"}
