# ruff: noqa: E501  (LLaMA-Factory's example configs are kept verbatim below)
"""Alignment stages rm, dpo (sigmoid/hinge/ipo/kto_pair/orpo/simpo), kto and ppo.

Formulas against hand computations, LLaMA-Factory's example configs, bad input refused before any weight loads,
every stage from the CLI with the run directory contract and its metrics, and resume equality for dpo.
The DPO demo (the tiny model learns to prefer the chosen answers) is tests/test_alignment_demo.py.
"""

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from train_process import abort_after_first_log

from workflows.cli import main
from workflows.config import load_config
from workflows.train import pref_losses

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONTRACT = (
    "run.yaml",
    "status.json",
    "trainer_log.jsonl",
    "running_log.txt",
    "train_results.json",
    "trainer_state.json",
    "provenance.json",
)


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


# Summed log-probabilities of two pairs: policy chosen/rejected, reference chosen/rejected, and answer lengths.
PC, PR, RC, RR = [-10.0, -12.5], [-14.0, -11.0], [-11.0, -12.0], [-13.0, -12.5]
LC, LR = [5, 4], [7, 3]
BETA = 0.1


def t(values):
    return torch.tensor(values, dtype=torch.float64)


def test_sigmoid_loss_is_dpo_by_hand_and_the_other_losses_differ_and_follow_their_formulas():
    def logits(i):
        return (PC[i] - RC[i]) - (PR[i] - RR[i])

    sigmoid, chosen, rejected = pref_losses.dpo_loss(t(PC), t(PR), t(RC), t(RR), BETA, "sigmoid")
    assert sigmoid.tolist() == pytest.approx([-math.log(sig(BETA * logits(i))) for i in range(2)], abs=1e-12)
    assert sigmoid.mean().item() == pytest.approx(0.6981389, abs=1e-6)  # pinned: (0.598139 + 0.798139) / 2
    assert chosen.tolist() == pytest.approx([BETA * (PC[i] - RC[i]) for i in range(2)])
    assert rejected.tolist() == pytest.approx([BETA * (PR[i] - RR[i]) for i in range(2)])

    smoothed = pref_losses.dpo_loss(t(PC), t(PR), t(RC), t(RR), BETA, "sigmoid", label_smoothing=0.2)[0]
    expected = [-0.8 * math.log(sig(BETA * logits(i))) - 0.2 * math.log(sig(-BETA * logits(i))) for i in range(2)]
    assert smoothed.tolist() == pytest.approx(expected)

    hinge = pref_losses.dpo_loss(t(PC), t(PR), t(RC), t(RR), BETA, "hinge")[0]
    assert hinge.tolist() == pytest.approx([max(0.0, 1 - BETA * logits(i)) for i in range(2)])
    ipo = pref_losses.dpo_loss(t(PC), t(PR), t(RC), t(RR), BETA, "ipo")[0]
    assert ipo.tolist() == pytest.approx([(logits(i) - 1 / (2 * BETA)) ** 2 for i in range(2)])

    kto_pair = pref_losses.dpo_loss(t(PC), t(PR), t(RC), t(RR), BETA, "kto_pair")[0]
    chosen_kl = max(0.0, sum(PC[i] - RC[i] for i in range(2)) / 2)
    rejected_kl = max(0.0, sum(PR[i] - RR[i] for i in range(2)) / 2)
    assert kto_pair.tolist() == pytest.approx(  # the mean of the pair's two answers' losses, as trl's kto_pair
        [((1 - sig(BETA * ((PC[i] - RC[i]) - rejected_kl))) + (1 - sig(BETA * (chosen_kl - (PR[i] - RR[i]))))) / 2 for i in range(2)]
    )

    chosen_avg, rejected_avg = [PC[i] / LC[i] for i in range(2)], [PR[i] / LR[i] for i in range(2)]
    orpo = pref_losses.orpo_loss(t(chosen_avg), t(rejected_avg), BETA)[0]
    odds = [
        (chosen_avg[i] - rejected_avg[i]) - (math.log(1 - math.exp(chosen_avg[i])) - math.log(1 - math.exp(rejected_avg[i])))
        for i in range(2)
    ]
    assert orpo.tolist() == pytest.approx([-chosen_avg[i] - BETA * math.log(sig(odds[i])) for i in range(2)])
    simpo = pref_losses.simpo_loss(t(chosen_avg), t(rejected_avg), BETA, gamma=0.5)[0]
    assert simpo.tolist() == pytest.approx([-math.log(sig(BETA * (chosen_avg[i] - rejected_avg[i]) - 0.5)) for i in range(2)])

    for other in (hinge, ipo, kto_pair, orpo, simpo):
        assert not torch.allclose(other.mean(), sigmoid.mean())


@pytest.mark.parametrize("loss", ["sigmoid", "orpo"])
def test_pref_ftx_adds_the_chosen_answers_sft_loss_and_pref_bco_weight_mixes_in_bco(loss):
    from workflows.config.schema import RLHFArgs

    logps, counts, reference = t(PC + PR), t(LC + LR), t(RC + RR)
    plain = pref_losses.pair_losses(RLHFArgs(pref_loss=loss), logps, counts, reference)[0]
    with_ftx = pref_losses.pair_losses(RLHFArgs(pref_loss=loss, pref_ftx=0.5), logps, counts, reference)[0]
    assert with_ftx.tolist() == pytest.approx([plain[i].item() + 0.5 * -PC[i] / LC[i] for i in range(2)])  # as LLaMA-Factory, orpo too
    if loss == "sigmoid":
        with_bco = pref_losses.pair_losses(RLHFArgs(pref_bco_weight=0.5), logps, counts, reference)[0]
        chosen, rejected = [BETA * (PC[i] - RC[i]) for i in range(2)], [BETA * (PR[i] - RR[i]) for i in range(2)]
        delta = sum(chosen + rejected) / 4
        bco = [-math.log(sig(chosen[i] - delta)) - math.log(sig(-(rejected[i] - delta))) for i in range(2)]
        assert with_bco.tolist() == pytest.approx([(plain[i].item() + 0.5 * bco[i]) / 1.5 for i in range(2)])


def test_kto_loss_weighs_desirable_and_undesirable_answers_against_the_kl_of_mismatched_pairs():
    policy, reference, tags = t([-10.0, -12.0, -9.0]), t([-11.0, -11.5, -9.5]), torch.tensor([1, 0, 1])
    kl = pref_losses.kl_divergence(t([-20.0, -7.0, -15.0]), t([-21.0, -7.5, -15.0]))  # the KL rows' log-probabilities
    assert kl.item() == pytest.approx(0.5)
    assert pref_losses.kl_divergence(t([-20.0]), t([-19.0])).item() == 0.0, "the estimate is never negative"
    losses, rewards = pref_losses.kto_loss(policy, reference, tags, BETA, chosen_weight=1.0, rejected_weight=2.0, kl=kl)
    assert losses.tolist() == pytest.approx([1 - sig(BETA * (1.0 - 0.5)), 2.0 * (1 - sig(BETA * (0.5 + 0.5))), 1 - sig(BETA * (0.5 - 0.5))])
    assert rewards.tolist() == pytest.approx([BETA * r for r in [1.0, -0.5, 0.5]])


def test_each_kto_row_gets_a_kl_row_of_its_prompt_and_the_previous_answer_within_cutoff_len():
    from workflows.features.preference import with_kl_rows

    rows = [
        {"input_ids": [1, 2, 10, 11], "labels": [-100, -100, 10, 11], "kto_tag": 1},
        {"input_ids": [3, 20], "labels": [-100, 20], "kto_tag": 0},
        {"input_ids": [4, 5, 6, 30, 31, 32, 33, 34], "labels": [-100] * 3 + [30, 31, 32, 33, 34], "kto_tag": 1},
    ]
    with_kl_rows(rows, cutoff_len=8)
    assert [row["kl_input_ids"] for row in rows] == [[1, 2, 30, 31, 32, 33, 34], [3, 10, 11], [4, 5, 6, 20]]
    assert rows[1]["kl_labels"] == [-100, 10, 11]
    with_kl_rows(rows, cutoff_len=6)  # the prompt's end and the answer's start are kept, split as for any row
    assert rows[0]["kl_input_ids"] == [1, 2, 30, 31, 32, 33] and rows[0]["kl_labels"] == [-100, -100, 30, 31, 32, 33]


def test_dpo_sigmoid_loss_on_a_tiny_batch_equals_log_probs_summed_by_hand(tiny_model_dir, tmp_path):
    """The trainer's log-probabilities (batched, padded, labels masked) equal a token-by-token sum over each answer."""
    from workflows.data import load_examples
    from workflows.features.build import encode_examples
    from workflows.models.loader import load_model, load_tokenizer
    from workflows.templates import get_template
    from workflows.train.preference import PairCollator, PreferenceTrainer
    from workflows.train.trainer import training_arguments

    config = load_config(None, ["stage=dpo", "dataset=preference_demo", "dataset_dir=" + str(PROJECT_ROOT / "data"), "cutoff_len=64"])
    tokenizer = load_tokenizer(config.model)
    template = get_template(config.data.template, tokenizer)
    template.fix_tokenizer(tokenizer)
    rows = encode_examples(load_examples(config.data, "preference_demo", "dpo")[:2], config, tokenizer, template)
    reference = load_model(config.model, tokenizer).eval()
    policy = load_model(config.model, tokenizer).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    trainer = PreferenceTrainer(
        model=policy,
        args=training_arguments(config, tmp_path, show_progress=False),
        config=config,
        ref_model=reference,
        train_dataset=rows,
        data_collator=PairCollator(tokenizer.pad_token_id),
        processing_class=tokenizer,
    )
    with torch.no_grad():
        loss = trainer.compute_loss(policy, PairCollator(tokenizer.pad_token_id)(rows)).item()

    def by_hand(model, ids, labels):
        with torch.no_grad():
            logprobs = model(input_ids=torch.tensor([ids])).logits[0].log_softmax(-1)
        return sum(logprobs[position - 1, ids[position]].item() for position in range(1, len(ids)) if labels[position] != -100)

    expected = 0.0
    for row in rows:
        pc, rc = by_hand(policy, row["input_ids"], row["labels"]), by_hand(reference, row["input_ids"], row["labels"])
        pr, rr = (
            by_hand(policy, row["rejected_input_ids"], row["rejected_labels"]),
            by_hand(reference, row["rejected_input_ids"], row["rejected_labels"]),
        )
        expected += -math.log(sig(BETA * ((pc - rc) - (pr - rr)))) / len(rows)
    assert loss == pytest.approx(expected, abs=1e-4)
    assert loss == pytest.approx(PINNED_TINY_BATCH_LOSS, abs=1e-4)


PINNED_TINY_BATCH_LOSS = 0.5874640  # the built-in tiny model, its first two preference_demo pairs, policy = weights + 0.05 N(0,1) (seed 0)

LLAMAFACTORY_EXAMPLES = {  # hiyouga/LLaMA-Factory examples/train_lora/llama3_lora_{dpo,kto,reward,ppo}.yaml, unchanged
    "dpo": """### model\nmodel_name_or_path: meta-llama/Meta-Llama-3-8B-Instruct\ntrust_remote_code: true\n\n### method\nstage: dpo
do_train: true\nfinetuning_type: lora\nlora_rank: 8\nlora_target: all\npref_beta: 0.1\npref_loss: sigmoid  # choices: [sigmoid (dpo), orpo, simpo]

### dataset\ndataset: dpo_en_demo\ntemplate: llama3\ncutoff_len: 2048\nmax_samples: 1000\noverwrite_cache: true\npreprocessing_num_workers: 16

### output\noutput_dir: saves/llama3-8b/lora/dpo\nlogging_steps: 10\nsave_steps: 500\nplot_loss: true\noverwrite_output_dir: true

### train\nper_device_train_batch_size: 1\ngradient_accumulation_steps: 8\nlearning_rate: 5.0e-6\nnum_train_epochs: 3.0
lr_scheduler_type: cosine\nwarmup_ratio: 0.1\nbf16: true\nddp_timeout: 180000000

### eval\n# val_size: 0.1\n# per_device_eval_batch_size: 1\n# eval_strategy: steps\n# eval_steps: 500\n""",
    "kto": """### model\nmodel_name_or_path: meta-llama/Meta-Llama-3-8B-Instruct\n\n### method\nstage: kto\ndo_train: true\nfinetuning_type: lora
lora_target: all\npref_beta: 0.1\n\n### dataset\ndataset: kto_en_demo\ntemplate: llama3\ncutoff_len: 2048\nmax_samples: 1000\noverwrite_cache: true
preprocessing_num_workers: 16\n\n### output\noutput_dir: saves/llama3-8b/lora/kto\nlogging_steps: 10\nsave_steps: 500\nplot_loss: true
overwrite_output_dir: true\n\n### train\nper_device_train_batch_size: 1\ngradient_accumulation_steps: 8\nlearning_rate: 5.0e-6\nnum_train_epochs: 3.0
lr_scheduler_type: cosine\nwarmup_ratio: 0.1\nbf16: true\nddp_timeout: 180000000\n\n### eval\nval_size: 0.1\nper_device_eval_batch_size: 1
eval_strategy: steps\neval_steps: 500\n""",
    "rm": """### model\nmodel_name_or_path: meta-llama/Meta-Llama-3-8B-Instruct\ntrust_remote_code: true\n\n### method\nstage: rm\ndo_train: true
finetuning_type: lora\nlora_rank: 8\nlora_target: all\n\n### dataset\ndataset: dpo_en_demo\ntemplate: llama3\ncutoff_len: 2048\nmax_samples: 1000
overwrite_cache: true\npreprocessing_num_workers: 16\n\n### output\noutput_dir: saves/llama3-8b/lora/reward\nlogging_steps: 10\nsave_steps: 500
plot_loss: true\noverwrite_output_dir: true\n\n### train\nper_device_train_batch_size: 1\ngradient_accumulation_steps: 8\nlearning_rate: 1.0e-4
num_train_epochs: 3.0\nlr_scheduler_type: cosine\nwarmup_ratio: 0.1\nbf16: true\nddp_timeout: 180000000\n""",
    "ppo": """### model\nmodel_name_or_path: meta-llama/Meta-Llama-3-8B-Instruct\nreward_model: saves/llama3-8b/lora/reward\n\n### method\nstage: ppo
do_train: true\nfinetuning_type: lora\nlora_target: all\n\n### dataset\ndataset: identity,alpaca_en_demo\ntemplate: llama3\ncutoff_len: 2048
max_samples: 1000\noverwrite_cache: true\npreprocessing_num_workers: 16\n\n### output\noutput_dir: saves/llama3-8b/lora/ppo\nlogging_steps: 10
save_steps: 500\nplot_loss: true\noverwrite_output_dir: true\n\n### train\nper_device_train_batch_size: 1\ngradient_accumulation_steps: 8
learning_rate: 1.0e-5\nnum_train_epochs: 3.0\nlr_scheduler_type: cosine\nwarmup_ratio: 0.1\nbf16: true\nddp_timeout: 180000000

### generate\nmax_new_tokens: 512\ntop_k: 0\ntop_p: 0.9\n""",
}


@pytest.mark.parametrize("stage", sorted(LLAMAFACTORY_EXAMPLES))
def test_llamafactory_alignment_examples_load_unchanged_with_model_and_data_paths_swapped(stage, tmp_path):
    path = tmp_path / f"llama3_lora_{stage}.yaml"
    path.write_text(LLAMAFACTORY_EXAMPLES[stage])
    swapped = {"model_name_or_path": "llamaboard-tiny", "dataset_dir": str(tmp_path)}
    if stage == "ppo":
        swapped["reward_model"] = str(tmp_path)
    config = load_config(path, swapped)
    original = yaml.safe_load(LLAMAFACTORY_EXAMPLES[stage])
    assert config.finetuning.stage == stage
    assert config.training.gradient_accumulation_steps == 8 and config.data.dataset == original["dataset"]
    if stage in ("dpo", "kto"):
        assert config.rlhf.pref_beta == 0.1
    if stage == "ppo":
        assert (config.generation.max_new_tokens, config.generation.top_k, config.generation.top_p) == (512, 0, 0.9)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workflows", "train", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600
    )


def log_rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "trainer_log.jsonl").read_text().splitlines()]


FAST = ("cutoff_len=64", "logging_steps=1", "learning_rate=1e-3", "per_device_train_batch_size=2", "plot_loss=false")


RM_ARGS = ("stage=rm", "dataset=preference_demo", "max_steps=4", "save_steps=2", "val_size=4", "per_device_eval_batch_size=4", *FAST)


@pytest.fixture(scope="module")
def reward_run(tiny_model_dir, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("rm") / "run"
    result = run_cli(*RM_ARGS, f"output_dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def assert_a_resume_reproduces(args: tuple[str, ...], run_dir: Path, tmp_path: Path, metrics: tuple[str, ...]) -> None:
    """Resumed from checkpoint-2 (in this process: a second CLI start would cost seconds of imports), steps 3 and 4 log
    what the uninterrupted run logged, within 1e-4."""
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copytree(run_dir / "checkpoint-2", resumed / "checkpoint-2")
    assert main(["train", *args, f"output_dir={resumed}", f"resume_from_checkpoint={resumed / 'checkpoint-2'}"]) == 0
    original = {row["current_steps"]: row for row in log_rows(run_dir) if "loss" in row}
    again = {row["current_steps"]: row for row in log_rows(resumed) if "loss" in row}
    for step in (3, 4):
        for metric in ("loss", *metrics):
            assert again[step][metric] == pytest.approx(original[step][metric], abs=1e-4), (step, metric)


def assert_contract(run_dir: Path, metrics: tuple[str, ...]) -> list[dict]:
    for name in CONTRACT:
        assert (run_dir / name).is_file(), name
    assert json.loads((run_dir / "status.json").read_text())["state"] == "finished"
    rows = [row for row in log_rows(run_dir) if "loss" in row]
    assert rows and all(math.isfinite(row["loss"]) for row in rows)
    for metric in metrics:
        assert all(isinstance(row.get(metric), float) for row in rows), metric
    return rows


def test_rm_writes_a_scoring_adapter_and_its_accuracy_and_a_resume_reproduces_it(reward_run, tmp_path):
    assert_contract(reward_run, ("accuracy", "rewards/chosen", "rewards/rejected"))
    assert_a_resume_reproduces(RM_ARGS, reward_run, tmp_path, ("rewards/chosen", "rewards/rejected"))
    assert json.loads((reward_run / "adapter_config.json").read_text())["task_type"] == "SEQ_CLS"
    assert 0.0 <= json.loads((reward_run / "all_results.json").read_text())["eval_accuracy"] <= 1.0
    from workflows.config.schema import ModelArgs
    from workflows.errors import ModelError
    from workflows.models.loader import load_model

    with pytest.raises(ModelError, match="is a reward model .* cannot generate or chat"):  # what the Chat tab and the API show
        load_model(ModelArgs(model_name_or_path=str(reward_run)), tokenizer=None)


PPO_METRICS = ("reward", "kl", "kl_coef", "ppo/loss/policy", "ppo/loss/value", "ppo/returns/mean", "ppo/val/vpred")


def test_ppo_trains_a_value_head_against_the_reward_model_and_a_resume_reproduces_the_losses(reward_run, tmp_path):
    from safetensors.torch import load_file

    args = (
        "stage=ppo",
        "dataset=instruct_demo",
        f"reward_model={reward_run}",
        "max_steps=4",
        "save_steps=2",
        "max_new_tokens=8",
        "ppo_epochs=2",
        *FAST,
    )
    run_dir = tmp_path / "ppo"
    result = run_cli(*args, f"output_dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = assert_contract(run_dir, PPO_METRICS)
    assert rows[0]["kl"] == 0.0, "step 1: the policy is the reference"
    assert (run_dir / "adapter_model.safetensors").is_file()
    heads = [load_file(folder / "value_head.safetensors") for folder in (run_dir / "checkpoint-2", run_dir)]
    assert set(heads[0]) == {"v_head.summary.weight", "v_head.summary.bias"}
    assert not torch.equal(heads[0]["v_head.summary.weight"], heads[1]["v_head.summary.weight"]), "the value head trains"

    assert_a_resume_reproduces(args, run_dir, tmp_path, ("ppo/loss/value", "reward", "kl"))


def test_a_freeze_rm_run_saves_a_whole_scoring_model_that_ppo_loads_as_reward_model_type_full(tiny_model_dir, tmp_path):
    from safetensors import safe_open

    reward_dir, ppo_dir = tmp_path / "rm", tmp_path / "ppo"
    result = run_cli("stage=rm", "dataset=preference_demo", "finetuning_type=freeze", "max_steps=2", *FAST, f"output_dir={reward_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((reward_dir / "config.json").read_text())["architectures"][0].endswith("ForSequenceClassification")
    with safe_open(reward_dir / "model.safetensors", "pt") as weights:
        assert "score.weight" in weights.keys(), "the trained score head is saved with the model"

    ppo = ("stage=ppo", "dataset=instruct_demo", f"reward_model={reward_dir}", "reward_model_type=full", "max_new_tokens=8", "ppo_epochs=1")
    result = run_cli(*ppo, "finetuning_type=freeze", "max_steps=2", *FAST, f"output_dir={ppo_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert_contract(ppo_dir, PPO_METRICS)


def test_sigterm_stops_ppo_at_a_checkpoint_holding_its_value_head_and_kl_state(reward_run, tmp_path):
    """ppo's step is its own (rollouts, several optimizer steps): the Abort still ends it at a resumable checkpoint."""
    from workflows.train.ppo import PPO_STATE_FILE

    run_dir = tmp_path / "ppo"
    command = ["stage=ppo", "dataset=instruct_demo", f"reward_model={reward_run}", "max_new_tokens=8", "ppo_epochs=1", *FAST]
    command += ["max_steps=100000", "save_steps=100000", f"output_dir={run_dir}"]
    abort_after_first_log(command, run_dir)
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "aborted" and "SIGTERM" in status["error"]
    (checkpoint,) = run_dir.glob("checkpoint-*")
    assert (checkpoint / "value_head.safetensors").is_file() and (checkpoint / "adapter_model.safetensors").is_file()
    assert set(json.loads((checkpoint / PPO_STATE_FILE).read_text())) == {"kl_coef", "score_moments"}


def test_ppo_refuses_ddp_find_unused_parameters_before_weights_load(reward_run, tmp_path, monkeypatch):
    monkeypatch.setattr("workflows.train.ppo.load_model", lambda *args, **kwargs: pytest.fail("weights were loaded"))
    overrides = ("stage=ppo", "dataset=instruct_demo", f"reward_model={reward_run}", "ddp_find_unused_parameters=true")
    assert main(["train", *overrides, f"output_dir={tmp_path / 'run'}", "max_steps=1", *FAST]) == 2
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert "`ddp_find_unused_parameters: true` cannot train stage ppo" in status["error"]


def test_kto_trains_on_labelled_answers_and_a_resume_reproduces_the_losses(tiny_model_dir, tmp_path):
    args = ("stage=kto", "dataset=kto_demo", "max_steps=4", "save_steps=2", "per_device_train_batch_size=4", *FAST[:3])
    run_dir = tmp_path / "kto"
    result = run_cli(*args, f"output_dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert_contract(run_dir, ("kl",))
    assert_a_resume_reproduces(args, run_dir, tmp_path, ("kl",))


def test_dpo_writes_reward_metrics_and_a_resume_reproduces_the_losses(tiny_model_dir, tmp_path):
    args = ("stage=dpo", "dataset=preference_demo", "max_steps=4", "save_steps=2", *FAST)
    run_dir = tmp_path / "dpo"
    result = run_cli(*args, f"output_dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = assert_contract(run_dir, ("rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins"))
    assert rows[0]["loss"] == pytest.approx(math.log(2), abs=1e-5), "step 1: the policy is the reference"
    assert_a_resume_reproduces(args, run_dir, tmp_path, ("rewards/margins", "rewards/accuracies"))


@pytest.mark.parametrize("reference", ["finetuning_type=full", "ref_model=llamaboard-tiny"], ids=["frozen-copy", "ref_model"])
def test_the_dpo_reference_starts_as_the_policy_and_stays_where_it_started(reference, tiny_model_dir, tmp_path):
    """full/freeze: a frozen copy of the starting policy; ``ref_model``: that model (here the same base model)."""
    assert main(["train", "stage=dpo", "dataset=preference_demo", "max_steps=2", reference, *FAST, f"output_dir={tmp_path}"]) == 0
    first, second = (row for row in log_rows(tmp_path) if "loss" in row)
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-5) and first["rewards/margins"] == 0.0
    assert second["rewards/margins"] != 0.0 and second["loss"] != pytest.approx(math.log(2), abs=1e-6), "the policy moved away"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["stage=dpo", "dataset=identity"], "has no chosen/rejected pairs, which stage `dpo` needs"),
        (["stage=rm", "dataset=instruct_demo"], "which stage `rm` needs"),
        (["stage=kto", "dataset=instruct_demo"], "no `kto_tag` column"),
        (["stage=ppo", "dataset=instruct_demo"], "`stage: ppo` needs `reward_model`"),
        (["stage=dpo", "dataset=preference_demo", "pref_loss=dpo"], "`pref_loss` has the value 'dpo'"),
        (["stage=dpo", "dataset=preference_demo", "pref_loss=orpo", "ref_model=data"], "uses no reference model"),
        (["stage=dpo", "dataset=preference_demo", "packing=true"], "`packing: true` joins examples into one sequence"),
        (["stage=kto", "dataset=kto_demo", "neat_packing=true"], "stage `kto` (Kahneman-Tversky optimisation"),
        (["stage=rm", "dataset=preference_demo", "padding_free=true"], "stage `rm` pads its batches: remove `padding_free`"),
        (["stage=ppo", "dataset=instruct_demo", "reward_model=data", "val_size=0.1"], "stage `ppo` has no evaluation"),
        (["stage=dpo", "dataset=preference_demo", "ref_model=data", "ref_model_quantization_bit=4"], "`ref_model_quantization_bit: 4`"),
        (
            ["stage=ppo", "dataset=instruct_demo", "reward_model=data", "reward_model_quantization_bit=8"],
            "`reward_model_quantization_bit: 8`",
        ),
    ],
)
def test_bad_alignment_input_exits_2_naming_the_key_before_any_weight_loads(overrides, named, tmp_path, monkeypatch, capsys):
    def no_weights(*args, **kwargs):
        raise AssertionError("weights were loaded")

    for module in ("preference", "reward", "ppo"):
        monkeypatch.setattr(f"workflows.train.{module}.load_model", no_weights)
    monkeypatch.chdir(PROJECT_ROOT)
    code = main(["train", *overrides, f"output_dir={tmp_path / 'run'}", "max_steps=1"])
    assert code == 2
    output = capsys.readouterr().err + (
        (tmp_path / "run" / "status.json").read_text() if (tmp_path / "run" / "status.json").exists() else ""
    )
    assert named in output


def test_a_reference_model_with_another_tokenizer_is_refused_before_weights_load(fixtures_dir, tmp_path, monkeypatch, capsys):
    other = next(path.parent for path in sorted((fixtures_dir / "tokenizers").rglob("tokenizer.json")))
    monkeypatch.setattr("workflows.train.preference.load_model", lambda *args, **kwargs: pytest.fail("weights were loaded"))
    monkeypatch.chdir(PROJECT_ROOT)
    code = main(["train", "stage=dpo", "dataset=preference_demo", f"ref_model={other}", f"output_dir={tmp_path / 'run'}"])
    assert code == 2
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert "`ref_model:" in status["error"] and "another tokenizer" in status["error"]


def test_a_pair_with_identical_answers_is_dropped_and_counted_with_file_and_index(tmp_path, caplog):
    from workflows.config.schema import DataArgs
    from workflows.data import load_examples

    pairs = [
        {"instruction": "Hi?", "chosen": "Hello!", "rejected": "Go away."},
        {"instruction": "Hey?", "chosen": "Same.", "rejected": "Same."},
    ]
    (tmp_path / "pairs.json").write_text(json.dumps(pairs))
    info = {
        "pairs": {
            "file_name": "pairs.json",
            "ranking": True,
            "columns": {"prompt": "instruction", "chosen": "chosen", "rejected": "rejected"},
        }
    }
    (tmp_path / "dataset_info.json").write_text(json.dumps(info))
    with caplog.at_level("WARNING"):
        examples = load_examples(DataArgs(dataset_dir=str(tmp_path)), "pairs", "dpo")
    assert len(examples) == 1
    assert "pairs.json#1" in caplog.text and "identical" in caplog.text and "dropped 1 of 2" in caplog.text
