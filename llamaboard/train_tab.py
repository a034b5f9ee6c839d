"""The Train tab: the training form (built from the schema), dataset list and preview,
config save/load, the command preview, and Start.

The layout below says only *where* each config key goes; what a key is (type,
choices, range, default) comes from the schema and what it is called from the
locales. ``tests/ui/test_form.py`` checks that every schema key is placed
somewhere or deliberately left to another part of the UI.
"""

from datetime import datetime
from typing import Any

import gradio as gr
import yaml

from llamaboard.data_preview import PreviewFailed, examples_html, run_preview, stats_html
from llamaboard.datasets import dataset_names
from llamaboard.form import Form, FormScope
from llamaboard.job_controls import build_job_controls, wire_job_controls
from llamaboard.locales import message
from llamaboard.model_pickers import PICKER_KINDS, confine_picked_paths, wire_model_pickers
from llamaboard.notices import error_notice, notice
from llamaboard.paths import Workspace
from llamaboard.run_builder import PreparedRun, prepare_run
from llamaboard.run_panel import build_run_panel
from llamaboard.run_queue import RunQueue
from llamaboard.saved_configs import read_config, save_config
from llamaboard.scale_out import build_scale_out, engine_settings, loaded_engine, wire_scale_out
from llamaboard.top_bar import TopBar
from workflows.errors import ConfigError, UserError
from workflows.stages import STAGES

BASIC_ROWS = (
    ("learning_rate", "num_train_epochs", "max_steps", "max_grad_norm", "max_samples", "cutoff_len"),
    ("per_device_train_batch_size", "gradient_accumulation_steps", "val_size", "lr_scheduler_type", "bf16", "fp16"),
)
ACCORDIONS = {
    "extra_accordion": (
        ("logging_steps", "save_strategy", "save_steps", "save_total_limit", "save_only_model", "warmup_steps"),
        ("warmup_ratio", "weight_decay", "optim", "neftune_noise_alpha", "seed", "report_to"),
        ("packing", "padding_free", "train_on_prompt", "mask_history", "mix_strategy", "interleave_probs", "enable_thinking"),
        ("default_system", "identity_name", "identity_author", "preprocessing_num_workers", "overwrite_cache", "dataloader_num_workers"),
        ("gradient_checkpointing", "plot_loss", "nproc_per_node", "ddp_timeout", "trust_remote_code", "cache_dir"),
        ("use_adam_mini", "use_muon", "pure_bf16", "enable_liger_kernel", "use_unsloth"),
    ),
    "freeze_accordion": (("freeze_trainable_layers", "freeze_trainable_modules", "freeze_extra_modules", "use_llama_pro"),),
    "lora_accordion": (
        ("lora_rank", "lora_alpha", "lora_dropout", "lora_target", "additional_target"),
        ("use_rslora", "use_dora", "pissa_init", "pissa_iter", "loraplus_lr_ratio", "loraplus_lr_embedding", "create_new_adapter"),
    ),
    "oft_accordion": (("oft_rank", "oft_block_size", "oft_target", "module_dropout"),),
    "galore_accordion": (
        ("use_galore", "galore_layerwise", "galore_target", "galore_rank"),
        ("galore_update_interval", "galore_scale", "galore_proj_type"),
    ),
    "apollo_accordion": (
        ("use_apollo", "apollo_layerwise", "apollo_target", "apollo_rank", "apollo_update_interval"),
        ("apollo_scale", "apollo_proj", "apollo_proj_type", "apollo_scale_type", "apollo_scale_front"),
    ),
    "badam_accordion": (
        ("use_badam", "badam_mode", "badam_start_block", "badam_switch_mode"),
        ("badam_switch_interval", "badam_update_ratio", "badam_mask_mode", "badam_verbose"),
    ),
    "quantization_accordion": (("quantization_method", "quantization_type", "double_quantization"),),
    "rlhf_accordion": (  # shown only for the alignment stages (RLHF_STAGES)
        ("pref_beta", "pref_ftx", "pref_loss", "pref_bco_weight", "dpo_label_smoothing", "simpo_gamma"),
        ("ref_model", "ref_model_adapters", "ref_model_quantization_bit", "kto_chosen_weight", "kto_rejected_weight"),
        ("reward_model", "reward_model_type", "reward_model_adapters", "reward_model_quantization_bit"),
        ("ppo_epochs", "ppo_buffer_size", "ppo_score_norm", "ppo_whiten_rewards", "ppo_target"),
    ),
    "eval_accordion": (
        ("eval_dataset",),
        ("eval_strategy", "eval_steps", "per_device_eval_batch_size", "load_best_model_at_end", "early_stopping_steps"),
    ),
}
RLHF_STAGES = tuple(name for name, stage in STAGES.items() if stage.alignment)
FIELD_KINDS = {"dataset": "names", "eval_dataset": "names", **PICKER_KINDS}  # datasets: comma-separated names as multi-selects
# Keys set elsewhere: output_dir from the run name, resume_from_checkpoint by Resume; do_train and
# overwrite_output_dir are fixed for runs started here (a new run directory each time).
# do_eval / do_predict / predict_with_generate are the Evaluate & Predict tab's own jobs; pissa_convert
# accepts only its default (a PiSSA adapter is always saved converted).
NOT_IN_FORM = frozenset(
    {
        "output_dir",
        "resume_from_checkpoint",
        "do_train",
        "overwrite_output_dir",
        "do_eval",
        "do_predict",
        "predict_with_generate",
        "pissa_convert",
    }
)
DEFAULT_CONFIG_PATH = "configs/train.yaml"


def new_run_name() -> str:
    return datetime.now().strftime("train_%Y-%m-%d-%H-%M-%S")


def build_train_tab(demo: gr.Blocks, form: Form, bar: TopBar, workspace: Workspace, queue: RunQueue) -> None:
    scope = form.scope("train", extends=bar.scope)
    with gr.Row(equal_height=True):
        stage = scope.field("stage", scale=1)
        dataset_dir = scope.field("dataset_dir", scale=1)
        dataset = scope.field("dataset", kind=FIELD_KINDS["dataset"], scale=3)
        preview_data_button = form.button("preview_data_button", scale=1)
    dataset_error = gr.HTML(elem_id="dataset_error")
    for keys in BASIC_ROWS:
        _field_row(scope, keys)
    scale_out = build_scale_out(form)  # the DeepSpeed / FSDP choice (config key deepspeed) and the process count
    accordions = {}
    for accordion_id, rows in ACCORDIONS.items():
        visible = accordion_id != "rlhf_accordion" or scope.fields["stage"].value in RLHF_STAGES
        with form.accordion(accordion_id, open=False, visible=visible) as accordions[accordion_id]:
            for keys in rows:
                _field_row(scope, keys)
            if accordion_id == "extra_accordion":
                extra_args = form.control("extra_args", gr.Code, language="yaml", interactive=True, lines=3, max_lines=12)
    with form.accordion("data_preview_accordion", open=False) as data_preview_accordion:
        with gr.Row():
            preview_examples = gr.HTML(elem_id="preview_examples")
            preview_stats = gr.HTML(elem_id="preview_stats")
    with gr.Row(equal_height=True):
        run_name = form.control("run_name", gr.Textbox, value=new_run_name, scale=2)
        config_path = form.control("config_path", gr.Textbox, value=DEFAULT_CONFIG_PATH, scale=2)
        replace_config = form.control("replace_config", gr.Checkbox, value=False, scale=1, min_width=120)
        save_button = form.button("save_config_button", scale=1)
        load_button = form.button("load_config_button", scale=1)
    controls = build_job_controls(form)
    form_message, command_row = controls.message, controls.command_row
    panel = build_run_panel(demo, form, workspace, queue, bar.lang, bar.devices, kinds=("train",), scope="train", notice_box=form_message)

    form_inputs = {*scope.fields.values(), scale_out.engine, extra_args, run_name, bar.devices, bar.lang}

    def prepare(data: dict) -> PreparedRun:
        values = {**scope.config_values(data), **engine_settings(data[scale_out.engine]), **parse_extra_args(data[extra_args])}
        return prepare_run(confine_picked_paths(values, workspace), data[run_name], data[bar.devices] or [], workspace)

    def refresh_datasets(folder: str, chosen_stage: str) -> tuple:
        try:
            names = dataset_names(workspace.confine(folder, "dataset_dir"), chosen_stage or "sft")
        except UserError as error:
            return gr.Dropdown(choices=[]), gr.Dropdown(choices=[]), notice(str(error), "error")
        return gr.Dropdown(choices=names), gr.Dropdown(choices=names), ""

    def keep_fitting_datasets(folder: str, chosen_stage: str, selected: list[str], selected_eval: list[str]) -> tuple:
        """A stage the user picks keeps only the chosen datasets it can train on (a preference set does not suit sft)."""
        try:
            names = set(dataset_names(workspace.confine(folder, "dataset_dir"), chosen_stage or "sft"))
        except UserError:
            return gr.skip(), gr.skip()
        return tuple(gr.Dropdown(value=[name for name in chosen or [] if name in names]) for chosen in (selected, selected_eval))

    def save(data: dict) -> str:
        lang = data[bar.lang]
        try:
            path = save_config(workspace, data[config_path], prepare(data).config, replace=data[replace_config])
        except UserError as error:
            return error_notice(error, lang)
        return notice(message(lang, "config_saved", path=path.relative_to(workspace.workdir)))

    def load_saved_config(data: dict) -> dict:
        typed_path, lang = data[config_path], data[bar.lang]
        try:
            config = read_config(workspace, typed_path)
        except UserError as error:
            return {form_message: error_notice(error, lang)}
        values = config.to_flat_dict(only_set=True)
        engine, engine_keys = loaded_engine(values)
        beyond_form = {
            key: value for key, value in values.items() if key not in scope.fields and key not in NOT_IN_FORM and key not in engine_keys
        }
        # only the controls whose value changes: each update costs the page work and fires the control's change events
        changed = {control: value for control, value in scope.fill(config.to_flat_dict()).items() if value != data[control]}
        return {
            **changed,
            scale_out.engine: engine,
            extra_args: yaml.safe_dump(beyond_form, sort_keys=False, allow_unicode=True) if beyond_form else "",
            form_message: notice(message(lang, "config_loaded", path=typed_path)),
            # what was previewed belongs to the config before: clear it rather than show it as this one's
            preview_examples: "",
            preview_stats: "",
            command_row: gr.Row(visible=False),
        }

    def preview_data(data: dict) -> dict:
        lang = data[bar.lang]
        try:
            examples, stats = run_preview(prepare(data).yaml_text, workspace.workdir)
        except (UserError, PreviewFailed) as error:
            return {preview_examples: error_notice(error, lang), preview_stats: "", data_preview_accordion: gr.Accordion(open=True)}
        return {
            preview_examples: examples_html(examples, lang),
            preview_stats: stats_html(stats, lang),
            data_preview_accordion: gr.Accordion(open=True),
        }

    dataset_outputs = [dataset, scope.fields["eval_dataset"], dataset_error]
    demo.load(refresh_datasets, [dataset_dir, stage], dataset_outputs)
    rlhf_accordion = accordions["rlhf_accordion"]
    stage.change(lambda chosen: gr.Accordion(visible=chosen in RLHF_STAGES), stage, rlhf_accordion)
    demo.load(lambda chosen: gr.Accordion(visible=chosen in RLHF_STAGES), stage, rlhf_accordion)
    gr.on(
        [dataset_dir.submit, dataset_dir.blur, stage.change],
        refresh_datasets,
        [dataset_dir, stage],
        dataset_outputs,
        trigger_mode="always_last",
    )
    stage.input(keep_fitting_datasets, [dataset_dir, stage, dataset, scope.fields["eval_dataset"]], dataset_outputs[:2])
    wire_model_pickers(demo, scope.fields, workspace, RLHF_STAGES)
    wire_job_controls(
        controls,
        inputs=form_inputs,
        prepare=prepare,
        lang=bar.lang,
        run_name=run_name,
        next_run_name=lambda data: new_run_name(),
        workspace=workspace,
        queue=queue,
        panel=panel,
    )
    save_button.click(save, form_inputs | {config_path, replace_config}, form_message)
    load_outputs = [*scope.fields.values(), scale_out.engine, extra_args, form_message, preview_examples, preview_stats, command_row]
    load_button.click(load_saved_config, form_inputs | {config_path}, load_outputs).then(
        refresh_datasets, [dataset_dir, stage], dataset_outputs
    )
    preview_data_button.click(preview_data, form_inputs, [preview_examples, preview_stats, data_preview_accordion], scroll_to_output=True)
    wire_scale_out(demo, form, scale_out, bar.devices, scope.fields["nproc_per_node"], bar.lang)


def _field_row(scope: FormScope, keys: tuple[str, ...]) -> None:
    with gr.Row(equal_height=True):
        for key in keys:
            scope.field(key, kind=FIELD_KINDS.get(key), min_width=140)


def parse_extra_args(text: str) -> dict[str, Any]:
    """The "extra arguments" box: a YAML or JSON mapping of any further config keys (every TrainingArguments field),
    validated with the rest of the form by the schema; it overrides the form's own controls."""
    if not (text or "").strip():
        return {}
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"The extra arguments are not valid YAML or JSON: {str(error).splitlines()[0]}") from None
    if not isinstance(values, dict):
        raise ConfigError("The extra arguments must be a mapping of `key: value` lines (YAML) or a JSON object.")
    return values
