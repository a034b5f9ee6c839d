"""`python -m workflows eval`: a benchmark when `task` is set, else loss and perplexity on a dataset (``do_eval``).

Also decides what ``train`` does with LLaMA-Factory's evaluation-only YAML
files (``do_predict`` / ``do_eval`` without ``do_train: true``): it runs the
predict or eval job instead of training, as ``llamafactory-cli train`` does.
"""

from pathlib import Path
from typing import Optional

from workflows.config import RunConfig
from workflows.errors import ConfigError, DatasetError
from workflows.eval.checkpoints import check_adapters_match_base
from workflows.jobs import Outcome, StopSignal, run_job
from workflows.run_dir import RunDirectory, default_job_name, job_folder


def eval_output_dir(config: RunConfig) -> Path:
    """``save_dir`` (LLaMA-Factory's key) or ``output_dir``, else ``saves/<model>/eval/eval_<time>``."""
    save_dir, output_dir = config.evaluation.save_dir, config.training.output_dir
    if save_dir and output_dir and Path(save_dir) != Path(output_dir):
        raise ConfigError(f"`save_dir: {save_dir}` and `output_dir: {output_dir}` both name the eval job's folder: keep one.")
    chosen = save_dir or output_dir
    if chosen:
        return Path(chosen)
    return job_folder(Path("saves"), "eval", config.model.model_name_or_path, config.finetuning.finetuning_type, default_job_name("eval"))


def eval_command(config: RunConfig, argv: list[str]) -> int:
    """Check the input, then run the benchmark or the loss evaluation as a job; returns the exit code."""
    from workflows.eval.loss import evaluation_dataset

    if not config.evaluation.task and not evaluation_dataset(config):
        raise DatasetError(
            "Nothing to evaluate: set `task` (e.g. mmlu_test with task_dir) for a benchmark, "
            "or `eval_dataset` for loss and perplexity on a dataset."
        )
    output_dir = eval_output_dir(config)
    config = config.replace(output_dir=str(output_dir), save_dir=None)
    run_dir = RunDirectory(output_dir, "eval")
    run_dir.check_writable(overwrite=True, resuming=False)

    def work(stop: StopSignal) -> Outcome:
        config.write_yaml(run_dir.config_path)
        check_adapters_match_base(config.model)
        if not config.evaluation.task:
            from workflows.eval.loss import run_loss_eval

            return run_loss_eval(config, run_dir, stop)
        from workflows.eval.benchmark_job import load_task, run_benchmark
        from workflows.eval.scoring import model_choice_scorer

        benchmark = load_task(config)  # every file read and checked before the model loads: bad input writes no results
        return run_benchmark(config, benchmark, run_dir, stop, model_choice_scorer(config))

    return run_job(run_dir, ["eval", *argv], work)


def evaluation_only_command(config: RunConfig) -> Optional[str]:
    """The command ``train`` should run instead of training: ``predict`` or ``eval`` for a YAML with
    ``do_predict`` / ``do_eval`` that does not set ``do_train: true``; None to train.

    ``do_train: true`` with ``do_predict`` is refused (predicting after training is a second command);
    ``do_eval`` beside training is left to ``eval_strategy`` as in Hugging Face's Trainer.
    """
    training = config.training
    train_asked = "do_train" in training.model_fields_set and training.do_train
    if training.do_predict and train_asked:
        raise ConfigError(
            "`do_train: true` with `do_predict: true`: train first, then predict with "
            "`python -m workflows predict` (adapter_name_or_path or model_name_or_path set to the trained run)."
        )
    if train_asked:
        return None
    if training.do_predict:
        return "predict"
    if training.do_eval:
        return "eval"
    return None
