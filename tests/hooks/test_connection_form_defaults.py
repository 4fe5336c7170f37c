"""The connection form shows the values the hook really uses (issue 15, problem 4).

Airflow's form fills an extra field from its schema's ``default``; without one a numeric field is
empty and the "Verify TLS" toggle shows *off* while the hook verifies TLS. Each default must be
the hook's own, so the form never misstates what an empty extra means.
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow.models.connection import Connection

from airflow_provider_videogen import get_provider_info
from airflow_provider_videogen.hooks.connection_form import CONN_FIELDS
from airflow_provider_videogen.hooks.settings import settings_from_connection

#: Extras with no meaningful default (empty means "none").
NO_DEFAULT = {"cancel_path"}


def _effective_defaults() -> dict[str, Any]:
    settings = settings_from_connection(Connection(conn_id="c", conn_type="videogen", password="k"))
    return {name: getattr(settings, name) for name in CONN_FIELDS if name not in NO_DEFAULT}


@pytest.mark.parametrize("name", sorted(set(CONN_FIELDS) - NO_DEFAULT))
def test_each_extra_field_shows_the_hooks_default(name: str) -> None:
    schema = CONN_FIELDS[name]["schema"]
    assert "default" in schema, f"extra {name!r} has no default: the form shows an empty field"
    assert schema["default"] == _effective_defaults()[name]


def test_verify_tls_toggle_defaults_to_on() -> None:
    fields = get_provider_info()["connection-types"][0]["conn-fields"]
    assert fields["verify_ssl"]["schema"]["default"] is True


def test_the_providers_manager_hands_the_defaults_to_the_form() -> None:
    """What the UI's ``/ui/connections/hook_meta`` serves comes from ``ProvidersManager`` widgets."""
    from airflow.providers_manager import ProvidersManager

    widgets = ProvidersManager().connection_form_widgets
    assert widgets["extra__videogen__verify_ssl"].field["value"] is True
    assert widgets["extra__videogen__timeout"].field["value"] == 30.0
