"""The Chat tab: which servers Load starts, and in a real browser load, chat in compare mode, unload."""

import time

import psutil
import pytest
from browser_helpers import open_page, type_into, wait_for
from conftest import screenshot

from llamaboard.chat_tab import server_overrides

pytestmark = pytest.mark.timeout(240)


def test_lora_adapters_go_on_the_base_model_and_full_checkpoints_replace_it():
    values = {"model_name_or_path": "llamaboard-tiny", "template": None}
    base = ["model_name_or_path=llamaboard-tiny", "template=null"]
    assert server_overrides({**values, "finetuning_type": "lora", "adapter_name_or_path": "a,b"}) == [*base, "adapter_name_or_path=a,b"]
    assert server_overrides({**values, "finetuning_type": "full", "adapter_name_or_path": "run/checkpoint-5"}) == [
        *base,
        "model_name_or_path=run/checkpoint-5",
    ]
    assert server_overrides({**values, "finetuning_type": "lora", "adapter_name_or_path": None}) == base


def _api_servers(app_pid: int) -> list[psutil.Process]:
    return [
        child for child in psutil.Process(app_pid).children(recursive=True) if "api" in child.cmdline() and "workflows" in child.cmdline()
    ]


def _answer(page, chatbot_id: str) -> str:
    bubbles = page.locator(f"#{chatbot_id} .bot")
    return bubbles.last.inner_text().strip() if bubbles.count() else ""


def test_load_chat_in_compare_mode_and_unload_ends_the_servers(app_server, page):
    open_page(page, app_server.url)
    page.get_by_role("tab", name="Chat").click()
    page.locator("#compare_mode input").check()
    type_into(page, "max_new_tokens", "6")
    page.click("#load_model_button")
    wait_for(lambda: "is loaded" in page.locator("#chat_tab").inner_text(), 150, "the model to load")
    servers = _api_servers(app_server.process.pid)
    assert len(servers) == 2 and all(server.memory_info().rss > 100 * 2**20 for server in servers)
    type_into(page, "query", "Who are you?")
    page.click("#send_button")
    wait_for(lambda: _answer(page, "chatbot") and _answer(page, "base_chatbot"), 60, "both answers")
    screenshot(page, "chat_tab_compare_mode")
    page.click("#unload_model_button")
    wait_for(lambda: "unloaded" in page.locator("#chat_tab").inner_text(), 60, "the unload notice")
    assert not _api_servers(app_server.process.pid)
    assert not any(server.is_running() and server.status() != psutil.STATUS_ZOMBIE for server in servers)


def test_stop_clear_undo_and_retry_act_on_the_conversation_for_good(app_server, page):
    open_page(page, app_server.url)
    page.get_by_role("tab", name="Chat").click()
    type_into(page, "max_new_tokens", "2000")  # the untrained model rambles to the limit: seconds of streaming
    page.click("#load_model_button")
    wait_for(lambda: "is loaded" in page.locator("#chat_tab").inner_text(), 150, "the model to load")
    type_into(page, "query", "Tell me a long story.")
    page.click("#send_button")
    wait_for(lambda: len(_answer(page, "chatbot")) > 20, 60, "the answer to start streaming")
    page.click("#stop_button")
    time.sleep(1)
    stopped = _answer(page, "chatbot")
    time.sleep(2)
    assert _answer(page, "chatbot") == stopped, "the answer kept growing after Stop"

    type_into(page, "query", "And another one.")
    page.click("#send_button")
    wait_for(lambda: page.locator("#chatbot .bot").count() == 2 and len(_answer(page, "chatbot")) > 20, 60, "the second answer to stream")
    page.click("#clear_button")
    time.sleep(3)
    assert page.locator("#chatbot .bot").count() == 0, "the streamed answer wrote the cleared history back"

    type_into(page, "max_new_tokens", "6")
    type_into(page, "query", "Hi")
    page.click("#send_button")
    wait_for(lambda: _answer(page, "chatbot"), 60, "a short answer")
    page.click("#undo_button")
    wait_for(lambda: page.locator("#chatbot .bot").count() == 0, 10, "Undo to take the turn back")
    assert page.locator("#query textarea").input_value() == "Hi"
    page.click("#retry_button")  # nothing to retry: the question in the box is sent again
    wait_for(lambda: page.locator("#chatbot .bot").count() == 1 and _answer(page, "chatbot"), 60, "Retry to answer the question again")
    page.click("#unload_model_button")
    wait_for(lambda: "unloaded" in page.locator("#chat_tab").inner_text(), 60, "the unload notice")
