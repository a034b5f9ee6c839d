"""`python -m workflows <command> [CONFIG.yaml] [key=value ...]`: everything the UI can do.

User errors print as one paragraph on stderr with exit code 2; only bugs show
a traceback. Heavy libraries are imported inside the commands, so `--help`
and `version` answer fast.
"""

import argparse
import json
import logging
import os
import sys

from workflows.config import format_help, load_config
from workflows.errors import UserError
from workflows.stages import AVAILABLE_STAGES
from workflows.startup import pause_collection, resume_collection

COMMANDS = {
    "train": f"Train a model (stages {', '.join(AVAILABLE_STAGES)}) and write a run directory.",
    "preview-data": "Show how examples are tokenised and masked (loads only the tokenizer).",
    "api": "Serve the model (with its adapters) as an OpenAI-compatible API on API_HOST:API_PORT (default 127.0.0.1:8000).",
    "chat": "Chat with the model in the terminal, streaming (`clear` starts over, `exit` quits).",
    "webchat": "Chat with the model on a standalone Gradio web page (GRADIO_SERVER_NAME/PORT, GRADIO_SHARE).",
    "predict": "Generate an answer for every example of `eval_dataset` (or `dataset`) and score it with BLEU-4 and ROUGE.",
    "eval": "Score a benchmark (`task`: mmlu_test, ceval_validation, cmmlu_test ...), or loss and perplexity on `eval_dataset`.",
    "export": "Merge adapters into a standalone, checked model in export_dir (shards, tokenizer, chat template, card; export_gguf: GGUF).",
    "expand": "LLaMA Pro: write a copy of the model with num_expand zero-initialised blocks added (same outputs) to output_dir.",
    "loftq": "LoftQ: write a base model with loftq_bits-quantized weights and a LoRA adapter (loftq_init/) that restores them.",
    "version": "Print versions and available devices.",
    "webui": "Start the LlamaBoard web UI (same as `python app.py`).",
}


def _config_parser(command: str, extra_help: str = "") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m workflows {command}",
        description=COMMANDS[command] + extra_help,
        epilog="Keys (YAML or key=value; LLaMA-Factory names):\n" + format_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("args", nargs="*", metavar="CONFIG.yaml | key=value", help="an optional YAML file, then overrides")
    return parser


def _load(args: list[str]):
    from workflows.imports import skip_unused_imports

    path = args[0] if args and "=" not in args[0] else None
    config = load_config(path, args[1:] if path else args)
    skip_unused_imports(config)
    return config


def _train(argv: list[str]) -> int:
    options = _config_parser(
        "train", " A LLaMA-Factory evaluation YAML (do_predict or do_eval, without do_train: true) runs the predict or eval job instead."
    ).parse_args(argv)
    pause_collection()  # until the Trainer exists (workflows.startup)
    config = _load(options.args)
    from workflows.eval.command import evaluation_only_command

    instead = evaluation_only_command(config)
    if instead:
        resume_collection()
        return HANDLERS[instead](argv)
    from workflows.train.launch import train_command

    return train_command(config, ["train", *argv])


def _preview_data(argv: list[str]) -> int:
    parser = _config_parser(
        "preview-data", " Prints one JSON object per example (input_ids, labels, text); max_samples limits how many (default 5)."
    )
    parser.add_argument("--stats", action="store_true", help="print token-length statistics and what cutoff_len truncates instead")
    options = parser.parse_args(argv)
    config = _load(options.args)
    from workflows.features.preview import preview_examples, token_statistics

    if options.stats:
        print(json.dumps(token_statistics(config), ensure_ascii=False))
    else:
        for record in preview_examples(config):
            print(json.dumps(record, ensure_ascii=False))
    return 0


def _api(argv: list[str]) -> int:
    pause_collection()  # until the model is loaded (load_engine)
    options = _config_parser("api", " Environment: API_HOST, API_PORT, API_KEY (bearer token), API_MODEL_NAME.").parse_args(argv)
    config = _load(options.args)
    from workflows.api.server import serve

    return serve(config)


def _chat(argv: list[str]) -> int:
    pause_collection()  # until the model is loaded (load_engine)
    config = _load(_config_parser("chat").parse_args(argv).args)
    from workflows.chat import load_engine
    from workflows.chat.terminal import chat_in_terminal

    return chat_in_terminal(load_engine(config))


def _webchat(argv: list[str]) -> int:
    pause_collection()  # until the model is loaded (load_engine)
    config = _load(_config_parser("webchat").parse_args(argv).args)
    from workflows.chat import load_engine
    from workflows.chat.webchat import serve_webchat

    return serve_webchat(load_engine(config))


def _predict(argv: list[str]) -> int:
    parser = _config_parser(
        "predict", " A job: output_dir defaults to saves/<model>/predict/predict_<time>. Batches of per_device_eval_batch_size."
    )
    config = _load(parser.parse_args(argv).args)
    from workflows.chat.predict import predict_command

    return predict_command(config, argv)


def _eval(argv: list[str]) -> int:
    parser = _config_parser(
        "eval",
        " A job: save_dir (or output_dir) defaults to saves/<model>/eval/eval_<time>. With `task`, writes results.json "
        "(accuracy per subject, category and Average), results.log and benchmark_answers.jsonl; without, eval_results.json.",
    )
    config = _load(parser.parse_args(argv).args)
    from workflows.eval.command import eval_command

    return eval_command(config, argv)


def _version(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m workflows version", description=COMMANDS["version"])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    options = parser.parse_args(argv)
    from workflows.devices import list_devices
    from workflows.run_dir import package_versions

    info = {"versions": package_versions(), "devices": list_devices()}
    if options.json:
        print(json.dumps(info))
    else:
        for name, version in info["versions"].items():
            print(f"{name:14} {version}")
        print("devices       ", ", ".join(info["devices"]))
    return 0


def _export(argv: list[str]) -> int:
    parser = _config_parser(
        "export",
        " A job: output_dir defaults to saves/<model>/export/export_<time>, export_dir to <output_dir>/model."
        " Exit 1 when the check of the written files fails, 2 for bad input.",
    )
    config = _load(parser.parse_args(argv).args)
    from workflows.export.command import export_command

    return export_command(config, argv)


def _model_tool(command: str, argv: list[str], options: dict[str, tuple[int, str]]):
    """The config (model and LoRA keys), the command's own whole-number options and output_dir, from key=value words.

    ``options`` maps each option to (default, help); a default of 0 means required.
    """
    from pathlib import Path

    from workflows.config import parse_overrides
    from workflows.errors import ConfigError

    parser = argparse.ArgumentParser(
        prog=f"python -m workflows {command}",
        description=COMMANDS[command],
        epilog="Options: output_dir=FOLDER (new or empty); "
        + "; ".join(f"{name}=N {text}" for name, (_, text) in options.items())
        + ". Other words are config keys (model_name_or_path, trust_remote_code, lora_* ...).",
    )
    parser.add_argument("args", nargs="*", metavar="key=value")
    values = parse_overrides(parser.parse_args(argv).args)
    chosen = {}
    for name, (default, text) in options.items():
        value = values.pop(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"`{command}` needs {name}=N, {text} (a whole number of at least 1), not {value!r}.")
        chosen[name] = value
    config = load_config(None, values)
    if not config.training.output_dir:
        raise ConfigError(f"`{command}` needs output_dir=FOLDER: a new or empty folder for the model it writes.")
    return config, chosen, Path(config.training.output_dir)


def _expand(argv: list[str]) -> int:
    config, options, output_dir = _model_tool(
        "expand", argv, {"num_expand": (0, "the number of blocks to add; it must divide the model's blocks")}
    )
    from workflows.models.llama_pro import expand

    expand(config, options["num_expand"], output_dir)
    print(
        f"Expanded model written to {output_dir}. Train its new blocks with model_name_or_path: {output_dir}, "
        f"use_llama_pro: true, freeze_trainable_layers: {options['num_expand']} and finetuning_type freeze, lora or oft."
    )
    return 0


def _loftq(argv: list[str]) -> int:
    config, options, output_dir = _model_tool(
        "loftq",
        argv,
        {"loftq_bits": (4, "bits of the quantized weights (default 4)"), "loftq_iter": (4, "alternating steps (default 4)")},
    )
    from workflows.models.loftq import loftq_init

    adapter_dir = loftq_init(config, output_dir, options["loftq_bits"], options["loftq_iter"])
    print(
        f"LoftQ model written to {output_dir}. Fine-tune it with model_name_or_path: {output_dir}, adapter_name_or_path: "
        f"{adapter_dir}, finetuning_type: lora and, on a GPU, quantization_bit: {options['loftq_bits']}."
    )
    return 0


def _webui(argv: list[str]) -> int:
    os.execv(sys.executable, [sys.executable, "-m", "llamaboard", *argv])  # the UI, in its own process image: workflows never imports it


HANDLERS = {
    "train": _train,
    "preview-data": _preview_data,
    "api": _api,
    "chat": _chat,
    "webchat": _webchat,
    "predict": _predict,
    "eval": _eval,
    "export": _export,
    "expand": _expand,
    "loftq": _loftq,
    "version": _version,
    "webui": _webui,
}


# bitsandbytes warns at import (peft imports it) that an optional CPU kernel for 4-bit layers is missing.
# 4-bit layers need CUDA here anyway (QLoRA on a CPU is refused with its own message), so the warning only alarms.
QUIET_LOGGERS = ("bitsandbytes.backends.cpu.ops",)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in HANDLERS:
        print("usage: python -m workflows <command> [CONFIG.yaml] [key=value ...]\n\ncommands:")
        for name, description in COMMANDS.items():
            print(f"  {name:14} {description}")
        known = not argv or argv[0] in ("-h", "--help")
        if not known:
            print(f"\nerror: unknown command `{argv[0]}`", file=sys.stderr)
        return 0 if known else 2
    try:
        return HANDLERS[argv[0]](argv[1:])
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
