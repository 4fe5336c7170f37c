"""The ``videogen`` connection form, written once.

Airflow >= 3.2 builds the form from the provider info (``conn-fields`` and
``ui-field-behaviour``, below in that shape); older versions call the hook's
``get_ui_field_behaviour`` / ``get_connection_form_widgets``, which the hook builds from the same
two dicts. Kept free of Airflow imports because ``get_provider_info()`` reads it while Airflow
is still discovering providers; importing the hook there would be circular.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_videogen.hooks.extras import form_fields

DEFAULT_BASE_URL = "https://api.evolink.ai"

#: How the standard fields look (provider-info shape: hyphenated keys).
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["login", "schema", "port"],
    "relabeling": {"host": "Base URL", "password": "API Key"},
    "placeholders": {"host": DEFAULT_BASE_URL, "password": "your API key", "extra": '{"timeout": 30}'},
}


#: Connection extras a user may set (UI form, URI query or JSON ``extra``), with their meaning
#: and allowed range (provider-info ``conn-fields`` shape), derived from the model that
#: validates them (:class:`~.extras.ConnectionExtras`), so the form and the check agree.
CONN_FIELDS: dict[str, dict[str, Any]] = form_fields()


def hook_field_behaviour() -> dict[str, Any]:
    """:data:`UI_FIELD_BEHAVIOUR` in the shape ``BaseHook.get_ui_field_behaviour`` returns (underscored keys)."""
    return {key.replace("-", "_"): value for key, value in UI_FIELD_BEHAVIOUR.items()}
