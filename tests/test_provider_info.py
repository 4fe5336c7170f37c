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


def test_connection_form_is_one_source_for_provider_info_and_hook() -> None:
    """Airflow >= 3.2 reads the form from provider info, older versions from the hook: they must agree."""
    from airflow.providers_manager import ProvidersManager

    from airflow_provider_videogen.hooks.videogen import VideoGenHook

    conn = get_provider_info()["connection-types"][0]
    from_info = {key.replace("-", "_"): value for key, value in conn["ui-field-behaviour"].items()}
    assert VideoGenHook.get_ui_field_behaviour() == from_info
    manager = ProvidersManager()
    assert manager.field_behaviours["videogen"] == VideoGenHook.get_ui_field_behaviour()
    widgets = {
        info.field_name: info.field
        for name, info in manager.connection_form_widgets.items()
        if name.startswith("extra__videogen__")
    }
    assert set(widgets) == set(conn["conn-fields"])
    for name, spec in conn["conn-fields"].items():
        assert widgets[name]["schema"]["title"] == spec["label"]
        assert widgets[name]["description"] == spec["description"]


def test_provider_info_registers_the_task_decorators() -> None:
    """``@task.videogen``, ``@task.videogen_remix`` and ``@task.videogen_batch`` resolve through Airflow."""
    from airflow.sdk import task

    from airflow_provider_videogen.decorators.batch import videogen_batch_task
    from airflow_provider_videogen.decorators.remix import videogen_remix_task
    from airflow_provider_videogen.decorators.videogen import videogen_task

    entries = {entry["name"]: entry["class-name"] for entry in get_provider_info()["task-decorators"]}
    assert entries == {
        "videogen": "airflow_provider_videogen.decorators.videogen.videogen_task",
        "videogen_remix": "airflow_provider_videogen.decorators.remix.videogen_remix_task",
        "videogen_batch": "airflow_provider_videogen.decorators.batch.videogen_batch_task",
    }
    assert task.videogen is videogen_task
    assert task.videogen_batch is videogen_batch_task
    assert task.videogen_remix is videogen_remix_task
