"""One-line notices under the form and the run panel: what happened, or what is wrong and why."""

import html


def notice(text: str, kind: str = "ok") -> str:
    """HTML for a notice; ``kind`` is ok, error or note (styled in ui.CSS)."""
    return f'<div class="lb-{kind}">{html.escape(text)}</div>'
