"""What the Train form says back, in a real browser: a bad value named by its label under the buttons,
and previews that belong to the config before a Load config are cleared, not shown as the new one's."""

from browser_helpers import open_page, type_into, wait_for
from conftest import screenshot


def test_a_bad_value_is_named_by_its_label_under_the_buttons_without_a_gradio_toast(app_server, page):
    open_page(page, app_server.url)
    type_into(page, "train-field-per_device_train_batch_size", "-2")
    page.click("#preview_command_button")
    message = page.locator("#form_message")
    message.get_by_text("Batch size (`per_device_train_batch_size`)").wait_for()
    assert page.locator(".toast-body").count() == 0  # no vanishing toast that names no field
    assert "Error" not in page.locator("#run_name").inner_text()  # the run name box stays as it was
    screenshot(page, "form_bad_batch_size")


def test_load_config_clears_the_previews_of_the_config_before(app_server, page):
    open_page(page, app_server.url)
    page.click("#preview_command_button")
    page.locator("#command_yaml").get_by_text("model_name_or_path").first.wait_for()
    page.click("#preview_data_button")
    wait_for(lambda: page.locator("#preview_examples").inner_text().strip(), 120, "the data preview")
    page.locator("#replace_config input").check()
    page.click("#save_config_button")
    page.locator("#form_message").get_by_text("Config saved").wait_for()
    page.click("#load_config_button")
    page.locator("#form_message").get_by_text("Config loaded").wait_for()
    wait_for(lambda: not page.locator("#preview_examples").inner_text().strip(), 20, "the old data preview to be cleared")
    assert not page.locator("#command_yaml").is_visible()
