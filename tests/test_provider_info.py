"""Provider registration: Airflow's ProvidersManager sees the connection type, its hook and form."""

from __future__ import annotations

import importlib

from airflow_provider_videogen import get_provider_info


def test_providers_manager_lists_the_videogen_connection_type() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    hook = manager.hooks["videogen"]
    assert hook is not None
    assert hook.hook_class_name == "airflow_provider_videogen.hooks.videogen.VideoGenHook"
    assert hook.connection_id_attribute_name == "videogen_conn_id"
    behaviour = manager.field_behaviours["videogen"]
    assert behaviour["relabeling"] == {"host": "Base URL", "password": "API Key"}
    assert set(behaviour["hidden_fields"]) == {"login", "schema", "port"}
    widgets = manager.connection_form_widgets
    for extra in ("timeout", "max_retries", "retry_backoff", "cancel_path"):
        assert f"extra__videogen__{extra}" in widgets


def test_every_declared_module_imports() -> None:
    info = get_provider_info()
    for section in ("hooks", "operators", "triggers", "sensors", "transfers"):
        for entry in info.get(section, []):
            for module in entry.get("python-modules", [entry.get("python-module")]):
                importlib.import_module(module)
    for link in info.get("extra-links", []):
        module, name = link.rsplit(".", 1)
        assert getattr(importlib.import_module(module), name)
    conn = info["connection-types"][0]
    module, name = conn["hook-class-name"].rsplit(".", 1)
    assert getattr(importlib.import_module(module), name).conn_type == conn["connection-type"] == "videogen"
