"""Dataset preview: examples rendered with the template and label mask, and token-length statistics.

Both come from ``python -m workflows preview-data`` in subprocesses (they load
a tokenizer, which the UI process must not import), run in parallel.
"""

import html
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from llamaboard.locales import message

PREVIEW_EXAMPLES = 3
TIMEOUT_S = 300
IGNORE_INDEX = -100


class PreviewFailed(Exception):
    """preview-data exited with an error; the message is its stderr paragraph."""


def run_preview(yaml_text: str, workdir: Path) -> tuple[list[dict], dict]:
    """(example records, statistics) for the config in ``yaml_text``; raises PreviewFailed."""
    with tempfile.TemporaryDirectory(prefix="llamaboard-preview-") as folder:
        config_path = Path(folder) / "preview.yaml"
        config_path.write_text(yaml_text, encoding="utf-8")
        base = [sys.executable, "-m", "workflows", "preview-data", str(config_path)]
        commands = [base + [f"max_samples={PREVIEW_EXAMPLES}"], base + ["--stats"]]
        processes = [
            subprocess.Popen(command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for command in commands
        ]
        outputs = [process.communicate(timeout=TIMEOUT_S) for process in processes]
    for process, (_, stderr) in zip(processes, outputs):
        if process.returncode != 0:
            raise PreviewFailed(
                stderr.strip().splitlines()[-1] if stderr.strip() else f"preview-data exited with code {process.returncode}"
            )
    examples = [json.loads(line) for line in outputs[0][0].splitlines() if line.strip()]
    return examples, json.loads(outputs[1][0])


def examples_html(examples: list[dict], lang: str) -> str:
    """Each example's text with trained tokens highlighted (when the engine names the tokens)."""
    blocks = []
    for number, example in enumerate(examples, 1):
        labels = example.get("labels", [])
        trained = sum(1 for label in labels if label != IGNORE_INDEX)
        head = message(
            lang,
            "preview_example_head",
            number=number,
            source=example.get("source") or "",
            tokens=len(example.get("input_ids", [])),
            trained=trained,
        )
        if "tokens" in example:
            body = "".join(
                f'<span class="{"lb-trained" if label != IGNORE_INDEX else "lb-masked"}">{html.escape(token)}</span>'
                for token, label in zip(example["tokens"], labels)
            )
        else:
            body = html.escape(example.get("text", ""))
        if "kto_tag" in example:  # kto: is this answer one to learn from or one to avoid
            head += " · " + message(lang, "preview_kto_desirable" if example["kto_tag"] else "preview_kto_undesirable")
        if "rejected_text" in example:  # rm/dpo: the chosen answer above, the rejected one below
            rejected = _highlight(example["rejected_text"], example.get("rejected_labels", []), example.get("rejected_tokens"))
            body += f'</pre><div class="lb-example-head">{html.escape(message(lang, "preview_rejected"))}</div><pre>{rejected}'
        blocks.append(f'<div class="lb-example"><div class="lb-example-head">{html.escape(head)}</div><pre>{body}</pre></div>')
    trained, masked = message(lang, "preview_trained"), message(lang, "preview_masked")
    legend = f'<div class="lb-legend"><span class="lb-trained">{trained}</span> <span class="lb-masked">{masked}</span></div>'
    return legend + "".join(blocks)


def _highlight(text: str, labels: list, tokens) -> str:
    if not tokens:
        return html.escape(text)
    return "".join(
        f'<span class="{"lb-trained" if label != IGNORE_INDEX else "lb-masked"}">{html.escape(token)}</span>'
        for token, label in zip(tokens, labels)
    )


def stats_html(stats: dict, lang: str) -> str:
    cells = "".join(
        f"<tr><th>{html.escape(message(lang, 'stat_' + key))}</th><td>{html.escape(str(value))}</td></tr>" for key, value in stats.items()
    )
    return f'<table class="lb-stats">{cells}</table>'
