"""PPO's arithmetic (workflows/train/ppo_math.py) against computations by hand, and the value head on the tiny model.

The CLI run, its logged metrics and the resume check live with the other stages in test_alignment.py.
"""

import pytest
import torch

from workflows.train.ppo_math import AdaptiveKL, gae, masked_whiten, policy_loss, token_rewards, value_loss


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def close(actual, expected):
    torch.testing.assert_close(actual, t(expected))


MASK = t([[1, 1, 1], [1, 1, 0]])  # the second answer ended a token early: its last column is padding


def test_token_rewards_are_the_kl_penalty_on_every_token_plus_the_score_on_the_last_one():
    logps, ref_logps = t([[-1.0, -2.0, -0.5], [-0.3, -0.7, -9.0]]), t([[-1.5, -1.0, -0.5], [-0.1, -0.2, -1.0]])
    rewards, kl = token_rewards(t([2.0, -1.0]), logps, ref_logps, MASK, kl_coef=0.5)
    close(kl, [[0.5, -1.0, 0.0], [-0.2, -0.5, 0.0]])
    close(rewards, [[-0.25, 0.5, 2.0], [0.1, 0.25 - 1.0, 0.0]])


def test_gae_equals_the_recursion_worked_by_hand():
    rewards, values = t([[0.1, -0.2, 1.0], [0.5, 0.3, 7.0]]), t([[0.5, 0.4, 0.8], [1.0, -0.5, 9.0]])
    advantages, returns = gae(rewards, values, MASK)  # γ = 1, λ = 0.95; padding's reward and value count as 0
    # row 0: δ = (0.1 + 0.4 − 0.5, −0.2 + 0.8 − 0.4, 1.0 − 0.8) = (0, 0.2, 0.2); A_2 = 0.2, A_1 = 0.2 + 0.95·0.2, A_0 = 0.95·A_1
    # row 1: δ = (0.5 − 0.5 − 1.0, 0.3 + 0.5, 0) = (−1.0, 0.8, 0); A = (−1.0 + 0.95·0.8, 0.8, 0)
    close(advantages, [[0.3705, 0.39, 0.2], [-0.24, 0.8, 0.0]])
    close(returns, [[0.8705, 0.79, 1.0], [0.76, 0.3, 0.0]])

    advantages, _ = gae(rewards[:1], values[:1], MASK[:1], gamma=0.9, lam=0.5)
    # δ = (0.1 + 0.9·0.4 − 0.5, −0.2 + 0.9·0.8 − 0.4, 0.2) = (−0.04, 0.12, 0.2); A_1 = 0.12 + 0.45·0.2, A_0 = −0.04 + 0.45·A_1
    close(advantages, [[0.0545, 0.21, 0.2]])


def test_clipped_policy_loss_takes_the_pessimistic_term_per_token():
    ratios = t([[1.5, 0.5, 1.1], [0.5, 3.0, 2.0]])
    advantages = t([[1.0, 1.0, -2.0], [-1.0, 5.0, -7.0]])
    old_logps = t([[-1.0, -2.0, -3.0], [-0.5, -0.2, -1.0]])
    loss, clipped = policy_loss(old_logps + ratios.log(), old_logps, advantages, MASK)
    # per token max(−A·ρ, −A·clamp(ρ, 0.8, 1.2)): max(−1.5, −1.2), max(−0.5, −0.8), max(2.2, 2.2), max(0.5, 0.8), max(−15, −6)
    assert loss.item() == pytest.approx((-1.2 - 0.5 + 2.2 + 0.8 - 6.0) / 5)  # the padding's 14 left out
    assert clipped.item() == pytest.approx(3 / 5)  # the first, fourth and fifth token


def test_clipped_value_loss_takes_the_larger_error_per_token():
    predicted, old_values = t([[1.0, 0.1, -1.0], [2.0, 5.0, 9.0]]), t([[0.5, 0.2, 0.0], [0.0, 0.0, 0.0]])
    returns = t([[1.2, 0.0, -2.0], [0.1, 0.0, 0.0]])
    loss, clipped = value_loss(predicted, old_values, returns, MASK)
    # clipped predictions (within 0.2 of the old ones): 0.7, 0.1, −0.2, 0.2, 0.2
    # per token max((V − R)², (V_clip − R)²): max(0.04, 0.25), max(0.01, 0.01), max(1, 3.24), max(3.61, 0.01), max(25, 0.04)
    assert loss.item() == pytest.approx(0.5 * (0.25 + 0.01 + 3.24 + 3.61 + 25.0) / 5)  # the padding's 81 left out
    assert clipped.item() == pytest.approx(2 / 5)


def test_whitening_counts_only_answer_tokens_and_can_keep_the_mean():
    values = t([[1.0, 2.0, 3.0], [4.0, 5.0, 100.0]])
    whitened = masked_whiten(values, MASK)
    answer = whitened[MASK.bool()]
    assert answer.mean().item() == pytest.approx(0.0, abs=1e-6) and answer.var().item() == pytest.approx(1.0, abs=1e-5)
    kept = masked_whiten(values, MASK, shift_mean=False)[MASK.bool()]
    assert kept.mean().item() == pytest.approx(3.0)


def test_adaptive_kl_coefficient_moves_towards_the_target_by_at_most_a_fifth_per_horizon():
    controller = AdaptiveKL(target=6.0)
    controller.update(current=12.0, rollouts=8)  # error 1.0, clipped to 0.2
    assert controller.value == pytest.approx(0.2 * (1 + 0.2 * 8 / 10000))
    controller = AdaptiveKL(target=6.0)
    controller.update(current=4.5, rollouts=100)  # error −0.25, clipped to −0.2
    assert controller.value == pytest.approx(0.2 * (1 - 0.2 * 100 / 10000))


def test_the_value_head_shares_the_lora_policys_body_and_trains_with_its_adapters(tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from workflows.train.ppo import answer_logps
    from workflows.train.value_head import attach_value_head

    torch.manual_seed(0)
    policy = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir), LoraConfig(r=4, target_modules="all-linear"))
    head = attach_value_head(policy)
    assert any(name.endswith("v_head.summary.weight") and param.requires_grad for name, param in policy.named_parameters())
    ids = torch.randint(3, 100, (2, 7))
    attention_mask = torch.ones_like(ids)
    logps, values = answer_logps(policy, ids, attention_mask, 4, head)
    assert logps.shape == values.shape == (2, 3)
    loss, _ = value_loss(values, values.detach() + 0.1, torch.ones_like(values), torch.ones_like(values))
    loss.backward()
    assert head.summary.weight.grad.abs().sum() > 0
    lora_grads = [param.grad for name, param in policy.named_parameters() if "lora_B" in name]
    assert lora_grads and any(grad is not None and grad.abs().sum() > 0 for grad in lora_grads), "the value loss trains the adapters"


def test_a_full_model_saves_without_its_value_head_which_round_trips_under_trls_names(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from workflows.train.value_head import attach_value_head, load_value_head, save_value_head

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    head = attach_value_head(model)
    model.save_pretrained(tmp_path)
    assert not [key for key in load_file(tmp_path / "model.safetensors") if "v_head" in key]
    save_value_head(head, tmp_path)
    saved = load_file(tmp_path / "value_head.safetensors")
    assert set(saved) == {"v_head.summary.weight", "v_head.summary.bias"}  # what LLaMA-Factory's load_valuehead_params reads
    torch.nn.init.zeros_(head.summary.weight)
    load_value_head(head, tmp_path)
    assert torch.equal(head.summary.weight, saved["v_head.summary.weight"])
