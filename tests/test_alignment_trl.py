"""Our dpo, kto and rm losses against trl 1.16's own loss code, on the same log-probabilities and scores.

trl computes its losses inside the trainers' ``_compute_loss`` / ``compute_loss``, from a model's output, not in
standalone functions. So each is called unbound, with a stand-in trainer holding only the attributes the method reads
(and ``precompute_ref_logps`` on, so the reference's log-probabilities come with the batch) and a stand-in model
whose output carries the numbers below. trl 1.16's DPOTrainer has no orpo, simpo or kto_pair: orpo and simpo are
checked against the loss methods of ``trl.experimental``'s ORPOTrainer and CPOTrainer (which take log-probabilities),
kto_pair (gone from trl) against its formula in test_alignment.py.
"""

from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch
from trl.experimental.cpo.cpo_trainer import CPOTrainer
from trl.experimental.orpo.orpo_trainer import ORPOTrainer
from trl.trainer.dpo_trainer import DPOTrainer
from trl.trainer.kto_trainer import KTOTrainer
from trl.trainer.reward_trainer import RewardTrainer as TrlRewardTrainer

from workflows.config.schema import RLHFArgs
from workflows.train.pref_losses import kl_divergence, kto_loss, pair_losses
from workflows.train.reward import RewardTrainer

BETA = 0.1
# Three pairs: summed answer log-probabilities of the policy and the reference, and the answers' token counts.
# The third pair's margin is wide enough (β·Δ > 1) for the hinge loss to be zero.
POLICY_CHOSEN, POLICY_REJECTED = [-10.0, -12.5, -3.0], [-14.0, -11.0, -30.0]
REFERENCE_CHOSEN, REFERENCE_REJECTED = [-11.0, -12.0, -6.0], [-13.0, -12.5, -20.0]
CHOSEN_TOKENS, REJECTED_TOKENS = [5, 4, 2], [7, 3, 6]


def tensor(values, dtype=torch.float64):
    return torch.tensor(values, dtype=dtype)


class Model:
    """Stands in for a model: every call returns the same output."""

    def __init__(self, **output):
        self.output = SimpleNamespace(**output)

    def __call__(self, **inputs):
        return self.output


def trl_trainer(**attributes) -> SimpleNamespace:
    """What trl's loss methods read from ``self``, for one process in training mode."""
    same = lambda values: values  # noqa: E731  (one process: gathering returns the values)
    return SimpleNamespace(
        model=SimpleNamespace(training=True),
        accelerator=SimpleNamespace(device=torch.device("cpu"), gather=same, gather_for_metrics=same),
        aux_loss_enabled=False,
        precompute_ref_logps=True,
        use_weighting=False,
        ld_alpha=None,
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
        _total_train_tokens=0,
        _tp_size=1,
        **attributes,
    )


def fused_head_output(logps: list[float], tokens: list[int]) -> tuple[dict, Model]:
    """Rows whose last ``tokens[i]`` positions are the answer, and a model output (trl's fused LM head) whose per-token
    log-probabilities sum to ``logps[i]`` over each answer (zero elsewhere, as the fused head gives masked labels)."""
    width = max(tokens) + 1
    completion_mask = torch.zeros(len(tokens), width, dtype=torch.long)
    for row, count in enumerate(tokens):
        completion_mask[row, width - count :] = 1
    shifted = completion_mask[:, 1:].double()
    per_token = shifted * (tensor(logps) / tensor(tokens)).unsqueeze(1)
    batch = {
        "input_ids": torch.zeros_like(completion_mask),
        "attention_mask": torch.ones_like(completion_mask),
        "completion_mask": completion_mask,
    }
    zeros = torch.zeros_like(per_token)
    return batch, Model(log_probs=per_token, entropy=zeros, mean_logits=zeros, is_top1=zeros.bool())


@pytest.mark.parametrize("loss_type", ["sigmoid", "hinge", "ipo"])
def test_dpo_losses_and_rewards_equal_trls_dpo_trainer(loss_type):
    inputs, model = fused_head_output(POLICY_CHOSEN + POLICY_REJECTED, CHOSEN_TOKENS + REJECTED_TOKENS)
    inputs.update(ref_chosen_logps=tensor(REFERENCE_CHOSEN), ref_rejected_logps=tensor(REFERENCE_REJECTED))
    trainer = trl_trainer(beta=BETA, loss_types=[loss_type], loss_weights=[1.0], f_divergence_type="reverse_kl")
    trl_loss = DPOTrainer._compute_loss(trainer, model, inputs, return_outputs=False)

    losses, chosen, rejected = pair_losses(
        RLHFArgs(pref_beta=BETA, pref_loss=loss_type),
        logps=tensor(POLICY_CHOSEN + POLICY_REJECTED),
        counts=tensor(CHOSEN_TOKENS + REJECTED_TOKENS),
        ref_logps=tensor(REFERENCE_CHOSEN + REFERENCE_REJECTED),
    )
    assert losses.mean().item() == pytest.approx(trl_loss.item(), abs=1e-12)
    if loss_type == "ipo":  # trl reports β × the summed log-ratio; we, like LLaMA-Factory, the per-token one IPO reads
        per_token = [BETA * (p - r) / n for p, r, n in zip(POLICY_CHOSEN, REFERENCE_CHOSEN, CHOSEN_TOKENS)]
        assert chosen.tolist() == pytest.approx(per_token)
        return
    trl_metrics = trainer._metrics["train"]
    assert trl_metrics["rewards/chosen"] == pytest.approx([chosen.mean().item()])
    assert trl_metrics["rewards/rejected"] == pytest.approx([rejected.mean().item()])
    assert trl_metrics["rewards/accuracies"] == pytest.approx([(chosen > rejected).double().mean().item()])
    assert trl_metrics["rewards/margins"] == pytest.approx([(chosen - rejected).mean().item()])
    if loss_type == "hinge":
        assert losses[2].item() == 0.0 and trl_loss.item() > 0.0, "the numbers exercise both sides of the hinge"


def test_kto_loss_kl_and_rewards_equal_trls_kto_trainer():
    logps, references, tags = [-10.0, -12.0, -9.0, -20.0], [-11.0, -11.5, -9.5, -21.0], [1, 0, 1, 0]
    kl_logps, kl_references = [-30.0, -14.0, -12.5, -8.0], [-31.0, -14.5, -12.0, -8.2]  # prompts with other rows' answers
    inputs, model = fused_head_output(logps, [5, 4, 3, 6])
    kl_rows, kl_model = fused_head_output(kl_logps, [7, 2, 4, 3])
    inputs.update(
        label=tensor(tags, torch.bool),
        ref_logps=tensor(references),
        ref_KL_logps=tensor(kl_references),
        **{f"KL_{key}": value for key, value in kl_rows.items()},
    )
    trainer = trl_trainer(beta=BETA, loss_type="kto", calculate_KL=True, desirable_weight=1.0, undesirable_weight=1.5)
    trainer._compute_kl_logps = lambda model, batch: KTOTrainer._compute_kl_logps(trainer, kl_model, batch)
    trl_loss = KTOTrainer._compute_loss(trainer, model, inputs, return_outputs=False)

    kl = kl_divergence(tensor(kl_logps), tensor(kl_references))
    losses, rewards = kto_loss(tensor(logps), tensor(references), tensor(tags), BETA, chosen_weight=1.0, rejected_weight=1.5, kl=kl)
    assert kl.item() == pytest.approx(0.3), "the numbers exercise the KL term"
    assert losses.mean().item() == pytest.approx(trl_loss.item(), abs=1e-12)
    trl_metrics = trainer._metrics["train"]
    desirable = tensor(tags, torch.bool)
    assert trl_metrics["kl"] == pytest.approx([kl.item()])
    assert trl_metrics["rewards/chosen"] == pytest.approx([rewards[desirable].mean().item()])
    assert trl_metrics["rewards/rejected"] == pytest.approx([rewards[~desirable].mean().item()])
    assert trl_metrics["rewards/margins"] == pytest.approx([(rewards[desirable].mean() - rewards[~desirable].mean()).item()])


def test_reward_model_loss_and_accuracy_equal_trls_reward_trainer():
    scores = tensor([[0.5], [-1.0], [2.0], [0.1], [0.3], [-3.0]], torch.float32)  # three chosen rows, then their three rejected rows
    inputs = {"input_ids": torch.zeros(6, 4, dtype=torch.long), "attention_mask": torch.ones(6, 4, dtype=torch.long)}
    trl_self = trl_trainer(args=SimpleNamespace(center_rewards_coefficient=None))
    trl_loss = TrlRewardTrainer.compute_loss(trl_self, Model(logits=scores), dict(inputs))

    recorded = {}
    ours = SimpleNamespace(record=lambda **values: recorded.update({key: float(value) for key, value in values.items()}))
    loss = RewardTrainer.compute_loss(ours, Model(logits=scores), dict(inputs))
    assert loss.item() == pytest.approx(trl_loss.item(), abs=1e-7)
    assert [recorded["accuracy"]] == pytest.approx(trl_self._metrics["train"]["accuracy"])
    assert [recorded["rewards/chosen"] - recorded["rewards/rejected"]] == pytest.approx(trl_self._metrics["train"]["margin"])


def per_token(logps: list[float], tokens: list[int]):
    return tensor(logps) / tensor(tokens)


def test_orpo_and_simpo_losses_and_rewards_equal_trl_experimentals_orpo_and_cpo_trainers():
    logps, counts = tensor(POLICY_CHOSEN + POLICY_REJECTED), tensor(CHOSEN_TOKENS + REJECTED_TOKENS)
    chosen, rejected = per_token(POLICY_CHOSEN, CHOSEN_TOKENS), per_token(POLICY_REJECTED, REJECTED_TOKENS)

    orpo, orpo_chosen, orpo_rejected = pair_losses(RLHFArgs(pref_beta=BETA, pref_loss="orpo"), logps, counts)
    trl_ratio, trl_chosen, trl_rejected, _, _ = ORPOTrainer.odds_ratio_loss(trl_trainer(beta=BETA), chosen, rejected)
    # ORPO = the chosen answer's NLL minus trl's β·log σ(log odds ratio)
    torch.testing.assert_close((orpo - (-chosen)).float(), -trl_ratio)
    torch.testing.assert_close((orpo_chosen.float(), orpo_rejected.float()), (trl_chosen, trl_rejected))

    rlhf = RLHFArgs(pref_beta=BETA, pref_loss="simpo", simpo_gamma=0.5)
    cpo = trl_trainer(beta=BETA, loss_type="simpo", simpo_gamma=0.5, alpha=0.0, label_smoothing=0.0)
    trl_simpo = CPOTrainer.cpo_loss(cpo, chosen, rejected)
    torch.testing.assert_close(pair_losses(rlhf, logps, counts), trl_simpo)
