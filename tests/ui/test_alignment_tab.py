"""The Train tab for the alignment stages, in a real browser: the RLHF settings and the dataset list follow the stage."""

import pytest
from browser_helpers import choose, open_page, wait_for
from conftest import screenshot

from llamaboard.train_tab import ACCORDIONS

pytestmark = pytest.mark.timeout(240)


def options(page, field_id: str) -> list[str]:
    page.click(f"#{field_id} input")
    try:
        page.get_by_role("option").first.wait_for(timeout=5_000)  # the list renders a moment after the click
    except Exception:  # noqa: BLE001 - an empty list is an answer too
        pass
    names = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return [name.split("\n")[-1].strip() for name in names]  # a selected option reads "✓\nname"


def test_rlhf_settings_appear_for_dpo_and_the_dataset_list_switches_to_preference_data(app_server, page):
    open_page(page, app_server.url)
    assert not page.locator("#rlhf_accordion").is_visible(), "sft shows no RLHF settings"
    wait_for(lambda: "identity" in options(page, "train-field-dataset"), 20, "the sft datasets (filled after the page loads)")

    choose(page, "train-field-stage", "dpo")
    page.wait_for_selector("#rlhf_accordion", state="visible")
    offered = wait_for(
        lambda: [name for name in [options(page, "train-field-dataset")] if "dpo_demo" in name], 20, "the preference datasets"
    )[0]
    assert "identity" not in offered and {"preference_demo", "dpo_demo"} <= set(offered)
    # the demo form had `identity` chosen; dpo cannot train on it, so the choice is dropped rather than refused at Start
    wait_for(lambda: "identity" not in page.locator("#train-field-dataset").inner_text(), 20, "identity to be unselected")
    page.click("#rlhf_accordion > button")
    page.locator("#train-field-pref_beta").wait_for()  # the accordion opens a moment after the click
    for row in ACCORDIONS["rlhf_accordion"]:
        for key in row:
            assert page.locator(f"#train-field-{key}").is_visible(), key
    choose(page, "train-field-pref_loss", "orpo")
    screenshot(page, "train_tab_dpo_rlhf")

    choose(page, "train-field-stage", "kto")
    wait_for(lambda: "kto_demo" in options(page, "train-field-dataset"), 20, "the KTO datasets")
    assert page.locator("#rlhf_accordion").is_visible()
    choose(page, "train-field-stage", "sft")
    page.wait_for_selector("#rlhf_accordion", state="hidden")
