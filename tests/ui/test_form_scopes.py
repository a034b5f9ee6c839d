"""Two tabs showing the same config keys keep separate controls; the extra-arguments box is validated by the schema;
optional field types are read alike however they are spelled."""

import gradio as gr
import pytest

from llamaboard.form import Form
from llamaboard.paths import Workspace
from llamaboard.run_builder import prepare_run
from llamaboard.train_tab import parse_extra_args
from workflows.errors import ConfigError

SHARED_KEYS = ("dataset", "cutoff_len", "max_samples", "per_device_eval_batch_size")


def test_two_tabs_sharing_keys_each_read_and_fill_their_own_controls():
    form = Form("en", starting_values={})
    with gr.Blocks():
        top = form.scope("top")
        model = top.field("model_name_or_path")
        train, evaluate = form.scope("train", extends=top), form.scope("eval", extends=top)
        for key in SHARED_KEYS:
            train.field(key)
            evaluate.field(key)
    for key in SHARED_KEYS:
        assert train.fields[key] is not evaluate.fields[key]
        assert train.fields[key].elem_id == f"train-field-{key}" and evaluate.fields[key].elem_id == f"eval-field-{key}"
    assert train.fields["model_name_or_path"] is evaluate.fields["model_name_or_path"] is model  # the top bar is shared

    event_data = {model: "llamaboard-tiny", train.fields["max_samples"]: "100", evaluate.fields["max_samples"]: "7"}
    event_data |= {train.fields["cutoff_len"]: 512, evaluate.fields["cutoff_len"]: 64}
    assert train.config_values(event_data) == {"model_name_or_path": "llamaboard-tiny", "max_samples": 100, "cutoff_len": 512}
    assert evaluate.config_values(event_data) == {"model_name_or_path": "llamaboard-tiny", "max_samples": 7, "cutoff_len": 64}
    filled = evaluate.fill({"max_samples": 5, "learning_rate": 1e-3})
    assert filled == {evaluate.fields["max_samples"]: "5"}  # only its own control; a key it lacks is ignored

    relabelled = form.relabel("zh")
    assert train.fields["dataset"] in relabelled and evaluate.fields["dataset"] in relabelled


def test_one_element_id_twice_is_refused():
    form = Form("en", starting_values={})
    with gr.Blocks():
        scope = form.scope("train")
        scope.field("dataset")
        with pytest.raises(ValueError, match="train-field-dataset"):
            scope.field("dataset")


def test_extra_arguments_are_yaml_or_json_checked_by_the_schema(tmp_path):
    assert parse_extra_args("") == {}
    assert parse_extra_args("torch_compile: true\nadam_beta2: 0.95") == {"torch_compile": True, "adam_beta2": 0.95}
    assert parse_extra_args('{"data_seed": 7}') == {"data_seed": 7}
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_extra_args("a: [")
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_extra_args("- torch_compile")
    workspace = Workspace.from_env({"LLAMABOARD_WORKDIR": str(tmp_path)})
    values = {"model_name_or_path": "llamaboard-tiny", "dataset": "identity", **parse_extra_args("include_num_input_tokens_seen: true")}
    run = prepare_run(values, "extra", [], workspace)
    assert "include_num_input_tokens_seen: true" in run.yaml_text
    with pytest.raises(ConfigError, match="Did you mean `torch_compile`"):
        prepare_run({**values, **parse_extra_args("torch_compil: true")}, "extra2", [], workspace)


def test_optional_fields_are_read_alike_in_every_spelling():
    """Controls and the config loader unwrap optional types with one function, which knows ``X | None`` too."""
    from typing import Literal, Optional, Union

    from workflows.config.loader import split_optional

    for annotation in (Optional[int], Union[int, None], int | None, None | int):
        assert split_optional(annotation) == (int, True), annotation
    assert split_optional(Literal["a", "b"] | None) == (Literal["a", "b"], True)
    assert split_optional(int) == (int, False) and split_optional(Union[int, str]) == (Union[int, str], False)
    assert split_optional(int | float | None) == (Union[int, float], True)
