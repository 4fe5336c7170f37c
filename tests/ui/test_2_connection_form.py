"""Adding a ``videogen`` connection in the UI form (issue 15, problem 4).

The form must label every field, show the values the hook uses when an extra is left as it is
(Verify TLS on, the numeric defaults filled in), and save what it showed.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from airflow_provider_videogen.hooks.connection_form import CONN_FIELDS

if TYPE_CHECKING:
    from tests.ui.conftest import UiStack

pytestmark = pytest.mark.ui

CONN_ID = "videogen_from_form"


def test_add_a_videogen_connection_in_the_form(page: Any, shot: Any, ui_stack: UiStack) -> None:
    page.goto(f"{ui_stack.url}/connections")
    page.get_by_role("button", name=re.compile("Add Connection", re.I)).click()
    dialog = page.get_by_role("dialog")
    dialog.locator("[name=connection_id]").fill(CONN_ID)
    kind = dialog.get_by_role("combobox")
    kind.click()
    kind.fill("Video Gen")
    page.get_by_role("option", name=re.compile("Video Generation Gateway")).first.click()
    expect(dialog.get_by_text("Base URL")).to_be_visible()
    expect(dialog.get_by_text("API Key")).to_be_visible()
    expect(dialog.locator("[name=host]")).to_have_attribute("placeholder", "https://api.evolink.ai")
    dialog.locator("[name=host]").fill(ui_stack.simulator_url)
    dialog.locator("[name=password]").fill("sim-key")
    shot("standard-fields")

    dialog.get_by_text("Extra Fields", exact=True).click()
    for name, spec in CONN_FIELDS.items():
        schema = spec["schema"]
        expect(dialog.get_by_text(spec["label"], exact=True)).to_be_visible()
        field = dialog.locator(f"[name=element_{name}]")
        if schema.get("type") == ["boolean", "null"]:
            expect(field).to_be_checked() if schema.get("default") else expect(field).not_to_be_checked()
        elif "default" in schema:
            expect(field).to_have_value(re.compile(rf"^{schema['default']:g}$"))
    shot("extra-fields-with-defaults")

    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_text(CONN_ID)).to_be_visible()
    shot("saved")

    saved = ui_stack.api.get(f"/connections/{CONN_ID}")
    assert saved["conn_type"] == "videogen"
    assert saved["host"] == ui_stack.simulator_url
    extra = json.loads(saved["extra"] or "{}")
    assert extra.get("verify_ssl") is True, extra
    assert float(extra.get("timeout")) == 30.0, extra
