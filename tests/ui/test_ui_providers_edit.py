"""The Providers page on a gateway with a config file: config-file providers are shown and
tested but not editable; a provider added in the UI is tested (its error shown), disabled,
enabled, edited and deleted; the form is labelled and readable."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from ui_harness import CONTROLS_WITHOUT_NAMES, LOW_CONTRAST, screenshot

from bifrost_py.testing import free_port


def test_config_file_providers_are_tested_not_edited(signed_in: Any) -> None:
    page = signed_in
    page.goto("/#/providers")
    card = page.get_by_role("region", name="anthropic mock")
    expect(card.get_by_text("config file", exact=True)).to_be_visible()
    expect(card.get_by_role("button", name="Edit anthropic")).to_have_count(0)
    expect(card.get_by_role("button", name="Delete anthropic")).to_have_count(0)
    card.get_by_role("button", name="Test anthropic").click()
    expect(card.get_by_text("Test passed: 200")).to_be_visible()
    assert page.errors == []


def test_a_provider_added_here_is_tested_disabled_edited_and_deleted(signed_in: Any) -> None:
    page = signed_in
    page.goto("/#/providers")
    page.get_by_role("button", name="Add provider").click()
    form = page.get_by_role("dialog", name="Add a provider")
    form.get_by_label("Name", exact=True).fill("spare")
    form.get_by_label("Type", exact=True).select_option("openai")
    form.get_by_label("Base URL", exact=True).fill(f"http://127.0.0.1:{free_port()}/v1")  # nothing listens there
    form.get_by_label("Models", exact=True).fill("spare-*")
    form.get_by_label("API key", exact=True).fill("sk-spare-0000000000000001")
    assert page.evaluate(CONTROLS_WITHOUT_NAMES) == []
    assert page.evaluate(LOW_CONTRAST) == []
    form.get_by_role("button", name="Add provider").click()

    card = page.get_by_role("region", name="spare openai")
    expect(card.get_by_text("added here", exact=True)).to_be_visible()
    card.get_by_role("button", name="Test spare").click()
    expect(card.get_by_text("could not be reached")).to_be_visible()  # the provider's error, shown

    card.get_by_role("button", name="Disable spare").click()
    expect(card.get_by_text("disabled", exact=True)).to_be_visible()
    card.get_by_role("button", name="Enable spare").click()
    expect(card.get_by_text("healthy", exact=True)).to_be_visible()

    card.get_by_role("button", name="Edit spare").click()
    edit = page.get_by_role("dialog", name="Edit provider spare")
    edit.get_by_role("button", name="Add an API key").click()
    edit.get_by_label("API key", exact=True).fill("sk-spare-0000000000000002")
    edit.get_by_label("Weight").nth(1).fill("3")
    screenshot(page, "providers-edit")
    edit.get_by_role("button", name="Save changes").click()
    expect(card.get_by_role("cell", name="key-2")).to_be_visible()
    expect(card.get_by_text("sk-s…0002")).to_be_visible()
    assert "sk-spare-0000000000000002" not in page.content()

    # A wrong value is the API's message, in the form; nothing changes.
    card.get_by_role("button", name="Edit spare").click()
    edit = page.get_by_role("dialog", name="Edit provider spare")
    edit.get_by_role("button", name="Add an API key").click()
    edit.get_by_label("Key name").nth(2).fill("key-1")
    edit.get_by_label("API key", exact=True).fill("sk-spare-0000000000000003")
    edit.get_by_role("button", name="Save changes").click()
    expect(edit.get_by_role("alert")).to_contain_text("Not saved: keys: two keys have the same name")
    edit.get_by_role("button", name="Cancel").click()
    assert all("400 (Bad Request)" in error for error in page.errors)
    page.errors.clear()  # the 400 is logged by Chromium as a failed resource load

    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="Delete spare").click()
    expect(page.get_by_role("region", name="spare openai")).to_have_count(0)
    assert page.errors == []
