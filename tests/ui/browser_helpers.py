"""What a person does on the page, as Playwright steps shared by the browser tests."""

import time

PAGE_LOAD_MS = 60_000
"""A first page load on a busy two-core machine (the other test worker training) can take 20 s."""


def open_page(page, url: str) -> None:
    """Load the page and wait for its load events (the run panel fills in), so typing is not overwritten."""
    page.goto(url, timeout=PAGE_LOAD_MS)
    page.wait_for_selector("#start_button", timeout=PAGE_LOAD_MS)
    run_panel_filled = "() => { const panel = document.querySelector('#train-run_progress'); return panel && panel.innerText.trim(); }"
    page.wait_for_function(run_panel_filled, timeout=PAGE_LOAD_MS)


def chart_points(page) -> int:
    """Training-loss points the plotly chart currently draws (0 while it is empty)."""
    return page.evaluate(
        "() => { const plot = document.querySelector('#train-loss_chart .js-plotly-plot'); "
        "return plot && plot.data ? plot.data[0].x.length : 0; }"
    )


def wait_for(condition, timeout_s: float, what: str, interval_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def type_into(page, component_id: str, text: str, submit: bool = False) -> None:
    """Type into a textbox (Gradio renders single- and multi-line ones as textarea or input)."""
    box = page.locator(f"#{component_id} textarea, #{component_id} input").first
    box.fill(text)
    if submit:
        box.press("Enter")


def choose(page, field_id: str, option: str) -> None:
    page.click(f"#{field_id} input")
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def click_history_row(page, run: str) -> None:
    page.locator("#train-history_table span", has_text=run).first.click()
