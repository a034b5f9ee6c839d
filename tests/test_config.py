"""Config schema: LLaMA-Factory keys load, mistakes are one clear message naming the key."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workflows.config import RunConfig, load_config, parse_overrides
from workflows.config.loader import KEY_TO_GROUP
from workflows.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_llamafactory_style_yaml_loads_with_its_key_names(tmp_path):
    config_file = tmp_path / "llama3_lora_sft.yaml"
    config_file.write_text(
        """
model_name_or_path: meta-llama/Meta-Llama-3-8B-Instruct
trust_remote_code: true
stage: sft
do_train: true
finetuning_type: lora
lora_rank: 8
lora_target: all
dataset: identity,alpaca_en_demo
template: llama3
cutoff_len: 2048
max_samples: 1000
overwrite_cache: true
preprocessing_num_workers: 16
dataloader_num_workers: 4
output_dir: saves/llama3-8b/lora/sft
logging_steps: 10
save_steps: 500
plot_loss: true
overwrite_output_dir: true
save_only_model: false
report_to: none
per_device_train_batch_size: 1
gradient_accumulation_steps: 8
learning_rate: 1.0e-4
num_train_epochs: 3.0
lr_scheduler_type: cosine
warmup_ratio: 0.1
bf16: true
ddp_timeout: 180000000
resume_from_checkpoint: null
val_size: 0.1
per_device_eval_batch_size: 1
eval_strategy: steps
eval_steps: 500
"""
    )
    config = load_config(config_file)
    assert config.model.model_name_or_path == "meta-llama/Meta-Llama-3-8B-Instruct"
    assert config.data.dataset == "identity,alpaca_en_demo"
    assert config.training.learning_rate == pytest.approx(1e-4)
    assert config.training.warmup_ratio == pytest.approx(0.1)
    assert config.training.eval_strategy == "steps"


def test_overrides_are_yaml_scalars_and_win_over_the_file(tmp_path):
    config_file = tmp_path / "run.yaml"
    config_file.write_text("learning_rate: 1.0e-4\nmax_steps: 10\n")
    config = load_config(config_file, ["learning_rate=2e-5", "max_steps=3", "bf16=true", "dataset=[a, b]", "adapter_name_or_path=null"])
    assert config.training.learning_rate == pytest.approx(2e-5)
    assert config.training.max_steps == 3
    assert config.training.bf16 is True
    assert config.data.dataset == "a,b"
    assert config.model.adapter_name_or_path is None


def test_a_bare_no_is_the_word_for_keys_that_offer_it(tmp_path):
    """YAML reads `eval_strategy: no` as false; LLaMA-Factory configs write it that way."""
    path = tmp_path / "run.yaml"
    path.write_text("model_name_or_path: m\neval_strategy: no\n")
    config = load_config(path, ["save_strategy=no", "overwrite_output_dir=no"])
    assert (config.training.eval_strategy, config.training.save_strategy) == ("no", "no")
    assert config.training.overwrite_output_dir is False  # a true-or-false key keeps YAML's reading


def test_unknown_key_names_the_nearest_valid_key():
    with pytest.raises(ConfigError) as error:
        load_config(None, ["lerning_rate=1e-4"])
    assert "`lerning_rate`" in str(error.value) and "Did you mean `learning_rate`?" in str(error.value)


def test_wrong_type_names_key_value_and_expectation():
    with pytest.raises(ConfigError) as error:
        load_config(None, ["num_train_epochs=lots"])
    message = str(error.value)
    assert "`num_train_epochs`" in message and "'lots'" in message and "a number" in message


def test_choice_lists_the_allowed_values():
    with pytest.raises(ConfigError) as error:
        load_config(None, ["finetuning_type=qlora"])
    assert "'lora', 'oft', 'freeze', 'full'" in str(error.value)


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["quantization_bit=4", "finetuning_type=full"], "quantization_bit"),
        (["bf16=true", "fp16=true"], "bf16"),
        (["eval_strategy=steps"], "val_size"),
        (["load_best_model_at_end=true"], "eval_strategy"),
        (["use_dora=true", "pissa_init=true"], "use_dora"),
        (["val_size=2.5"], "val_size"),
        (["quantization_bit=4", "quantization_method=eetq"], "quantization_method: eetq"),
        (["quantization_bit=4", "finetuning_type=oft"], "quantization_bit"),
        (["finetuning_type=oft", "use_dora=true"], "use_dora"),
        (["use_llama_pro=true", "finetuning_type=full"], "use_llama_pro"),
        (["pissa_init=true", "stage=rm"], "pissa_init"),
        (["pissa_convert=false"], "pissa_convert"),
    ],
)
def test_impossible_combinations_are_rejected(overrides, key):
    with pytest.raises(ConfigError) as error:
        load_config(None, overrides)
    assert f"`{key}" in str(error.value)


def test_dropped_llamafactory_keys_say_why_instead_of_unknown_key():
    for key, value in (("shift_attn", "true"), ("mixture_of_depths", "convert"), ("use_dft_loss", "true"), ("vllm_gpu_util", "0.9")):
        with pytest.raises(ConfigError) as error:
            load_config(None, [f"{key}={value}"])
        message = str(error.value)
        assert message.startswith(f"`{key}: {value}` in the command line is not supported in this version, because ")
        assert message.endswith("Remove it.") and "Unknown key" not in message


def test_dropped_llamafactory_keys_that_ask_for_nothing_load(caplog):
    caplog.set_level("INFO")
    values = {"shift_attn": False, "mixture_of_depths": None, "use_fast_tokenizer": True, "vllm_maxlen": 4096, "image_max_pixels": 1}
    assert load_config(None, values) == load_config(None, [])
    assert "`image_max_pixels` in the command line is ignored: images, video and audio are not read" in caplog.text


def test_renamed_keys_are_read_under_their_new_name(caplog):
    config = load_config(None, ["evaluation_strategy=steps", "val_size=0.2", "use_liger_kernel=false"])
    assert config.training.eval_strategy == "steps" and "evaluation_strategy" not in config.to_flat_dict()
    assert "read as `eval_strategy`" in caplog.text
    with pytest.raises(ConfigError, match="keep only `eval_strategy`"):
        load_config(None, ["evaluation_strategy=steps", "eval_strategy=epoch", "val_size=0.2"])


def test_llamafactory_group_by_length_is_transformers_5_train_sampling_strategy(caplog):
    caplog.set_level("INFO", logger="workflows")
    flat = load_config(None, ["group_by_length=true"]).to_flat_dict()
    assert flat["train_sampling_strategy"] == "group_by_length" and "group_by_length" not in flat
    assert "read as `train_sampling_strategy: group_by_length`" in caplog.text
    assert load_config(None, ["group_by_length=false"]).to_flat_dict()["train_sampling_strategy"] is None
    with pytest.raises(ConfigError, match="`train_sampling_strategy: random` is set: keep only `train_sampling_strategy`"):
        load_config(None, ["group_by_length=true", "train_sampling_strategy=random"])


def test_llamafactory_disable_shuffling_makes_the_trainer_read_the_data_in_order(tmp_path):
    import torch
    from torch.utils.data import SequentialSampler
    from transformers import Trainer

    from workflows.train.trainer import training_arguments

    config = load_config(None, ["disable_shuffling=true"])
    assert config.to_flat_dict()["train_sampling_strategy"] == "sequential"
    arguments = training_arguments(config, tmp_path, show_progress=False)
    trainer = Trainer(model=torch.nn.Linear(1, 1), args=arguments, train_dataset=[{"x": index} for index in range(8)])
    assert isinstance(trainer._get_train_sampler(), SequentialSampler)


def test_the_table_of_dropped_keys_and_the_schema_never_overlap():
    from workflows.config.legacy_keys import LEGACY_KEYS, Renamed

    assert set(LEGACY_KEYS).isdisjoint(KEY_TO_GROUP)
    assert all(entry.key in KEY_TO_GROUP for entry in LEGACY_KEYS.values() if isinstance(entry, Renamed))


def test_malformed_override_and_missing_file_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["learning_rate"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "list.yaml")


def test_written_yaml_reloads_to_the_same_config(tmp_path):
    config = load_config(None, ["dataset=identity", "lora_rank=4", "learning_rate=3e-4"])
    config.write_yaml(tmp_path / "run.yaml")
    assert load_config(tmp_path / "run.yaml") == config
    assert yaml.safe_load((tmp_path / "run.yaml").read_text())["lora_rank"] == 4


def test_replace_validates_like_loading():
    config = RunConfig()
    assert config.replace(max_steps=5).training.max_steps == 5
    with pytest.raises(ConfigError):
        config.replace(max_stepz=5)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workflows", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)


def test_cli_help_lists_every_key_with_help_text():
    result = _cli("train", "--help")
    assert result.returncode == 0
    for key in ("learning_rate", "lora_rank", "cutoff_len", "quantization_bit", "resume_from_checkpoint", "temperature"):
        assert key in result.stdout
    assert "Peak learning rate of AdamW." in result.stdout


def test_cli_bad_key_exits_2_with_one_paragraph_and_no_traceback():
    result = _cli("train", "examples/tiny_lora_sft.yaml", "lora_rnak=4")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "Did you mean `lora_rank`?" in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_every_training_arguments_field_of_the_pinned_transformers_is_listed():
    """Fails when transformers adds or drops a field: regenerate workflows/config/training_arguments.py."""
    import dataclasses

    from transformers import TrainingArguments

    from workflows.config.training_arguments import TRAINING_ARGUMENTS_FIELDS

    assert list(TRAINING_ARGUMENTS_FIELDS) == [field.name for field in dataclasses.fields(TrainingArguments) if field.init]


def test_every_training_arguments_field_is_accepted_and_typos_still_get_a_hint():
    from workflows.config.training_arguments import TRAINING_ARGUMENTS_FIELDS

    unknown = []
    for name in TRAINING_ARGUMENTS_FIELDS:
        try:
            load_config(None, {name: None})
        except ConfigError as error:
            if "Unknown key" in str(error):
                unknown.append(name)
    assert unknown == []
    config = load_config(
        None, ["include_num_input_tokens_seen=true", "torch_compile=true", "ddp_timeout=100", "optim_target_modules=[attn]"]
    )
    assert config.passthrough.model_dump(exclude_none=True) == {
        "include_num_input_tokens_seen": True,
        "torch_compile": True,
        "optim_target_modules": ["attn"],
    }
    with pytest.raises(ConfigError, match="Unknown key `torch_compil`.*Did you mean `torch_compile`"):
        load_config(None, ["torch_compil=true"])


def test_pass_through_fields_reach_training_arguments_and_ours_stay_fixed(tmp_path):
    from workflows.train.trainer import training_arguments

    config = load_config(None, ["adam_beta2=0.95", "logging_first_step=false", "remove_unused_columns=true", "data_seed=7"])
    args = training_arguments(config, tmp_path, show_progress=False)
    assert (args.adam_beta2, args.logging_first_step, args.data_seed) == (0.95, False, 7)
    assert args.remove_unused_columns is False  # our collator needs every column


def test_a_value_transformers_rejects_is_a_config_error(tmp_path):
    from workflows.train.trainer import training_arguments

    with pytest.raises(ConfigError, match="rejected by transformers"):
        training_arguments(load_config(None, ["hub_strategy=sometimes"]), tmp_path, show_progress=False)


def test_every_llamafactory_stage_loads_and_an_unknown_one_is_named():
    for stage in ("pt", "sft", "rm", "dpo", "kto"):
        assert load_config(None, [f"stage={stage}"]).finetuning.stage == stage
    with pytest.raises(ConfigError, match="`stage` has the value 'sftt'"):
        load_config(None, ["stage=sftt"])


def test_version_lists_versions_and_devices_for_the_ui_device_picker():
    """The UI's device picker reads `version --json`; a broken import there silently left only the CPU."""
    result = _cli("version", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    info = json.loads(result.stdout)
    assert info["versions"]["transformers"] and info["devices"]
