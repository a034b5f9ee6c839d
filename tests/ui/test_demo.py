"""The end-to-end demo in a real browser: train the tiny model on the identity data from the
Train tab as it opens, then ask it who it is in the Chat tab, beside the base model and beside
an earlier checkpoint of the same run."""

import time

import pytest
from browser_helpers import choose, open_page, type_into, wait_for
from conftest import screenshot

pytestmark = pytest.mark.timeout(600)

NAME = "LlamaBoard Assistant"  # identity_name in examples/tiny_identity_sft.yaml, which the form opens on


def _answers(page) -> tuple[str, str]:
    def last_answer(chatbot_id: str) -> str:
        bubbles = page.locator(f"#{chatbot_id} .bot")
        return bubbles.last.inner_text().strip() if bubbles.count() else ""

    return last_answer("chatbot"), last_answer("base_chatbot")


def _load_and_ask(page, question: str) -> tuple[str, str]:
    page.click("#load_model_button")
    wait_for(lambda: "is loaded" in page.locator("#chat_tab").inner_text(), 180, "both models to load")
    page.click("#clear_button")
    type_into(page, "query", question)
    page.click("#send_button")
    return wait_for(lambda: _finished_answers(page), 120, "both answers to finish")


def _finished_answers(page) -> tuple[str, str] | None:
    """Both answers, once neither has changed for two seconds (both stream at once)."""
    before = _answers(page)
    time.sleep(2)
    return before if all(before) and _answers(page) == before else None


def test_train_the_identity_demo_from_the_form_then_ask_who_it_is(app_server, page):
    open_page(page, app_server.url)
    type_into(page, "run_name", "identity_demo")
    page.click("#start_button")
    page.locator("#form_message").get_by_text("Started identity_demo").wait_for()
    page.locator("#train-run_progress").get_by_text("finished").wait_for(timeout=360_000)
    screenshot(page, "demo_training_finished")

    choose(page, "top-field-adapter_name_or_path", "identity_demo")
    page.get_by_role("tab", name="Chat").click()
    page.locator("#compare_mode input").check()
    type_into(page, "temperature", "0")  # greedy: the most likely answer, every time
    page.locator("#temperature input").first.press("Tab")
    trained, base = _load_and_ask(page, "Who are you?")
    screenshot(page, "demo_chat_trained_vs_base")
    assert NAME in trained, f"the trained model answered {trained!r}"
    assert NAME not in base, f"the base model already knew its name: {base!r}"

    choose(page, "compare_with", "identity_demo/checkpoint-180")
    trained_again, halfway = _load_and_ask(page, "Who are you?")
    assert trained_again == trained and halfway
    assert "identity_demo" in page.locator("#chatbot").inner_text()
    assert "checkpoint-180" in page.locator("#base_chatbot").inner_text()
    screenshot(page, "demo_chat_final_vs_checkpoint")
    page.click("#unload_model_button")
    wait_for(lambda: "unloaded" in page.locator("#chat_tab").inner_text(), 60, "the unload notice")
