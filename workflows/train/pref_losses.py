"""The preference losses of stages dpo and kto, as plain functions of log-probabilities (LLaMA-Factory's formulas).

Inputs are per-example log-probabilities of the answers: ``*_logps`` summed over
the answer tokens (``*_avg_logps`` averaged, for ipo, orpo and simpo, which are
length-normalised). Each function returns ``(losses, chosen_rewards,
rejected_rewards)`` per example; the rewards are what trainer_log.jsonl reports
as ``rewards/chosen`` and ``rewards/rejected``. ``pair_losses`` picks and combines
them for a batch of pairs as the dpo stage's settings say.
"""

import torch
import torch.nn.functional as F

from workflows.config.schema import RLHFArgs


def pair_losses(rlhf: RLHFArgs, logps, counts, ref_logps=None):
    """The dpo stage's per-pair losses and rewards for a batch of pairs (the chosen rows first, then the rejected).

    ``logps`` and ``ref_logps`` (None for orpo and simpo) are the policy's and the reference's summed answer
    log-probabilities of the 2B rows, ``counts`` their answer tokens: ipo, orpo and simpo read them per token.
    ``pref_bco_weight`` mixes BCO in; ``pref_ftx`` adds the chosen answers' SFT loss (to every loss, ORPO's too, as
    LLaMA-Factory does).
    Returns ``(losses, chosen_rewards, rejected_rewards)``.
    """
    avg_logps = logps / counts.clamp(min=1)
    chosen_avg, rejected_avg = avg_logps.chunk(2)
    if rlhf.pref_loss == "orpo":
        losses, chosen_rewards, rejected_rewards = orpo_loss(chosen_avg, rejected_avg, rlhf.pref_beta)
    elif rlhf.pref_loss == "simpo":
        losses, chosen_rewards, rejected_rewards = simpo_loss(chosen_avg, rejected_avg, rlhf.pref_beta, rlhf.simpo_gamma)
    else:
        if rlhf.pref_loss == "ipo":  # IPO compares length-normalised log-probabilities, as LLaMA-Factory and trl do
            logps, ref_logps = avg_logps, ref_logps / counts.clamp(min=1)
        (chosen, rejected), (ref_chosen, ref_rejected) = logps.chunk(2), ref_logps.chunk(2)
        losses, chosen_rewards, rejected_rewards = dpo_loss(
            chosen, rejected, ref_chosen, ref_rejected, rlhf.pref_beta, rlhf.pref_loss, rlhf.dpo_label_smoothing
        )
        if rlhf.pref_bco_weight > 0:
            bco = bco_loss(rlhf.pref_beta * (chosen - ref_chosen), rlhf.pref_beta * (rejected - ref_rejected))
            losses = (losses + rlhf.pref_bco_weight * bco) / (1 + rlhf.pref_bco_weight)
    if rlhf.pref_ftx > 0:
        losses = losses - rlhf.pref_ftx * chosen_avg
    return losses, chosen_rewards, rejected_rewards


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta: float, loss_type: str, label_smoothing: float = 0.0):
    """sigmoid (DPO), hinge, ipo and kto_pair: losses against a reference model."""
    chosen_logratios = policy_chosen - ref_chosen
    rejected_logratios = policy_rejected - ref_rejected
    logits = chosen_logratios - rejected_logratios
    if loss_type == "sigmoid":
        losses = -F.logsigmoid(beta * logits) * (1 - label_smoothing) - F.logsigmoid(-beta * logits) * label_smoothing
    elif loss_type == "hinge":
        losses = torch.relu(1 - beta * logits)
    elif loss_type == "ipo":
        losses = (logits - 1 / (2 * beta)) ** 2
    elif loss_type == "kto_pair":
        # KTO on pairs: each answer is compared with the other side's KL estimate (batch mean, never negative); the
        # mean of its two answers' losses, as trl's kto_pair (which LLaMA-Factory calls) averages over all 2B answers
        chosen_kl = chosen_logratios.mean().clamp(min=0).detach()
        rejected_kl = rejected_logratios.mean().clamp(min=0).detach()
        chosen_losses = 1 - torch.sigmoid(beta * (chosen_logratios - rejected_kl))
        rejected_losses = 1 - torch.sigmoid(beta * (chosen_kl - rejected_logratios))
        losses = (chosen_losses + rejected_losses) / 2
    else:
        raise ValueError(f"unknown pref_loss {loss_type!r}")
    return losses, beta * chosen_logratios.detach(), beta * rejected_logratios.detach()


def orpo_loss(chosen_avg_logps, rejected_avg_logps, beta: float):
    """ORPO: the NLL of the chosen answer plus beta × the log odds-ratio loss; no reference model."""
    log_odds = (chosen_avg_logps - rejected_avg_logps) - (
        torch.log1p(-torch.exp(chosen_avg_logps)) - torch.log1p(-torch.exp(rejected_avg_logps))
    )
    losses = -chosen_avg_logps - beta * F.logsigmoid(log_odds)
    return losses, beta * chosen_avg_logps.detach(), beta * rejected_avg_logps.detach()


def simpo_loss(chosen_avg_logps, rejected_avg_logps, beta: float, gamma: float):
    """SimPO: the length-normalised reward margin must exceed gamma; no reference model."""
    logits = (chosen_avg_logps - rejected_avg_logps) - gamma / beta
    losses = -F.logsigmoid(beta * logits)
    return losses, beta * chosen_avg_logps.detach(), beta * rejected_avg_logps.detach()


def bco_loss(chosen_rewards, rejected_rewards):
    """BCO on pairs (pref_bco_weight): each reward is classified against the batch's mean reward as the shift."""
    delta = torch.cat([chosen_rewards, rejected_rewards]).mean().detach()
    return -F.logsigmoid(chosen_rewards - delta) - F.logsigmoid(-(rejected_rewards - delta))


def kto_loss(policy_logps, ref_logps, desirable, beta: float, chosen_weight: float, rejected_weight: float, kl):
    """KTO on single answers labelled desirable (True) or undesirable, against ``kl``, the reference point.

    ``kl`` is the policy's KL to the reference, estimated on mismatched prompt/answer pairs (``kl_divergence``).
    Returns (losses, rewards).
    """
    logratios = policy_logps - ref_logps
    desirable = desirable.bool()
    losses = torch.where(
        desirable,
        chosen_weight * (1 - torch.sigmoid(beta * (logratios - kl))),
        rejected_weight * (1 - torch.sigmoid(beta * (kl - logratios))),
    )
    return losses, beta * logratios.detach()


def kl_divergence(policy_kl_logps, ref_kl_logps, batch_mean=torch.mean):
    """KTO's KL estimate: the mean policy/reference log-ratio of the KL rows, clamped at 0, without gradient.

    ``batch_mean`` takes the mean (the trainer's averages over every rank's batch, as trl's KTOTrainer does).
    """
    return batch_mean((policy_kl_logps - ref_kl_logps).detach()).clamp(min=0)
