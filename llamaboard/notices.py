"""One-line notices under the form and the run panel: what happened, or what is wrong and why."""

import html
import re

from llamaboard.locales import component_text
from workflows.config.loader import KEY_TO_GROUP

QUOTED_KEY = re.compile(r"`(\w+)`")


def notice(text: str, kind: str = "ok") -> str:
    """HTML for a notice; ``kind`` is ok, error or note (styled in ui.CSS)."""
    return f'<div class="lb-{kind}">{html.escape(text)}</div>'


def error_notice(error: Exception, lang: str) -> str:
    """A user error under the buttons, each config key it names shown as the control's label (with the key)."""

    def labelled(match: re.Match) -> str:
        key = match.group(1)
        return f"{component_text(lang, key)} (`{key}`)" if key in KEY_TO_GROUP else match.group(0)

    return notice(QUOTED_KEY.sub(labelled, str(error)), "error")
