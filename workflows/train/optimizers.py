"""The optimizer-side fine-tuning methods: GaLore, APOLLO, BAdam, Adam-mini and Muon.

LLaMA-Factory's keys choose the method (`use_galore`, `use_badam`, ...; checked in
`workflows.config.loader`). Each is built on the run's own optimizer settings: the
`optim` it was asked for (GaLore keeps AdamW, 8-bit AdamW or Adafactor), the learning
rate and its schedule, Adam's betas and epsilon, and `weight_decay` on the same
weights plain fine-tuning decays (not biases or norms). Only trainable weights are
handed to the method, so `finetuning_type: freeze` keeps its choice of layers.

Transformers' own GaLore/APOLLO options (`optim: galore_adamw`) are not used
because they drop weight decay (and Adam's betas for GaLore), cannot pass
APOLLO's `scale_front`, and `all-linear` includes the output head; the
layer-wise variant reuses transformers' LayerWiseDummyOptimizer so its scheduler
handling applies unchanged.
"""

import logging
import re
import sys
from collections.abc import Callable
from types import MethodType

import torch
from transformers import Trainer, TrainingArguments
from transformers.trainer_pt_utils import LayerWiseDummyOptimizer

from workflows.config.schema import FinetuningArgs
from workflows.errors import ConfigError

logger = logging.getLogger(__name__)

NamedParameters = list[tuple[str, torch.nn.Parameter]]


def create_method_optimizer(
    model: torch.nn.Module, args: TrainingArguments, finetuning: FinetuningArgs, decay_names: list[str]
) -> torch.optim.Optimizer | None:
    """The optimizer of the chosen method, or None when no method is chosen (the Trainer builds its usual one)."""
    trainable = [(name, param) for name, param in model.named_parameters() if param.requires_grad]
    if finetuning.use_galore or finetuning.use_apollo:
        return _low_rank_optimizer(model, trainable, args, finetuning, decay_names)
    if finetuning.use_badam:
        return _badam_optimizer(trainable, args, finetuning, decay_names)
    if finetuning.use_adam_mini:
        return _adam_mini_optimizer(model, trainable, args)
    if finetuning.use_muon:
        return _muon_optimizer(model, trainable, args, decay_names)
    return None


def prepare_trainer(trainer: Trainer, finetuning: FinetuningArgs) -> None:
    """What a method needs from the Trainer besides its optimizer (BAdam: its callback, and clipping sparse gradients)."""
    if not finetuning.use_badam:
        return
    from badam import BAdamCallback, clip_grad_norm_old_version

    trainer.add_callback(BAdamCallback)  # gradient checkpointing that skips the frozen blocks' backward pass
    if finetuning.badam_mode == "ratio":  # its gradients are sparse tensors, which torch's fused norm refuses
        trainer.accelerator.clip_grad_norm_ = MethodType(clip_grad_norm_old_version, trainer.accelerator)


def _decay_groups(named: NamedParameters, decay_names: list[str], weight_decay: float) -> list[dict]:
    """Two parameter groups: the weights that decay (group 0, as BAdam expects) and the biases and norms that do not."""
    decay = set(decay_names)
    return [
        {"params": [param for name, param in named if name in decay], "weight_decay": weight_decay},
        {"params": [param for name, param in named if name not in decay], "weight_decay": 0.0},
    ]


def _base_kwargs(args: TrainingArguments) -> dict:
    """The keyword arguments `optim` gets from transformers (learning rate, betas, epsilon, 8-bit and paging flags)."""
    _, kwargs = Trainer.get_optimizer_cls_and_kwargs(args)
    return kwargs


# ---- GaLore and APOLLO: optimizer state for a low-rank projection of each targeted weight's gradient


def _low_rank_optimizer(model, trainable: NamedParameters, args, finetuning: FinetuningArgs, decay_names) -> torch.optim.Optimizer:
    method = "galore" if finetuning.use_galore else "apollo"
    targets = _low_rank_targets(model, getattr(finetuning, f"{method}_target"), f"{method}_target")
    target_ids = {id(param) for param in targets}
    others = [(name, param) for name, param in trainable if id(param) not in target_ids]
    projection = {
        "rank": getattr(finetuning, f"{method}_rank"),
        "update_proj_gap": getattr(finetuning, f"{method}_update_interval"),
        "scale": getattr(finetuning, f"{method}_scale"),
        "proj_type": getattr(finetuning, f"{method}_proj_type"),
    }
    kwargs = _base_kwargs(args)
    if method == "galore":
        optimizer_cls, projector_classes = _galore_classes(args.optim)
    else:
        optimizer_cls, projector_classes = _apollo_classes()
        projection.update(proj=finetuning.apollo_proj, scale_type=finetuning.apollo_scale_type)
        kwargs["scale_front"] = finetuning.apollo_scale_front
    torch.serialization.add_safe_globals(projector_classes)  # they live in the saved optimizer state, which resuming loads weights-only
    groups = [
        *_decay_groups(others, decay_names, args.weight_decay),
        {"params": targets, "weight_decay": args.weight_decay, **projection},
    ]
    logger.info("%s projects %d weight matrices at rank %d", method, len(targets), projection["rank"])
    if getattr(finetuning, f"{method}_layerwise"):
        return _layerwise(optimizer_cls, groups, kwargs)
    return optimizer_cls(groups, **kwargs)


def _galore_classes(optim: str) -> tuple[type, list[type]]:
    """GaLore's version of `optim` (AdamW, 8-bit AdamW or Adafactor), and the projector class its state holds."""
    from galore_torch import GaLoreAdafactor, GaLoreAdamW, GaLoreAdamW8bit
    from galore_torch.galore_projector import GaLoreProjector

    optimizer_cls = {"adafactor": GaLoreAdafactor}.get(optim, GaLoreAdamW8bit if "8bit" in optim else GaLoreAdamW)
    if optimizer_cls is GaLoreAdamW8bit and not torch.cuda.is_available():
        raise ConfigError(
            f"`use_galore` with `optim: {optim}` needs a CUDA GPU (galore-torch's 8-bit step runs only there): "
            "use adamw_torch or adafactor on this machine."
        )
    return optimizer_cls, [GaLoreProjector]


def _apollo_classes() -> tuple[type, list[type]]:
    """APOLLO's AdamW, and the projector classes its state holds (random or SVD projection)."""
    from apollo_torch import APOLLOAdamW
    from apollo_torch.random_projector import GradientProjector
    from apollo_torch.svd_projector import GaLoreProjector

    return APOLLOAdamW, [GradientProjector, GaLoreProjector]


def _low_rank_targets(model: torch.nn.Module, target: str, key: str) -> list[torch.nn.Parameter]:
    """Trainable weights of the linear layers named in `target` (parts of module names), or of every linear layer but the head."""
    names = [name.strip() for name in target.split(",") if name.strip()]
    head = model.get_output_embeddings()
    targets = [
        module.weight
        for module_name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
        and module is not head
        and module.weight.requires_grad
        and (names == ["all"] or any(name in module_name for name in names))
    ]
    if not targets:
        raise ConfigError(
            f"`{key}: {target}` matches no trainable linear layer of the model: use all, or parts of its layer names (e.g. q_proj,v_proj)."
        )
    return targets


def _layerwise(optimizer_cls: type, groups: list[dict], kwargs: dict) -> LayerWiseDummyOptimizer:
    """One optimizer per weight, stepped by a hook as soon as that weight's gradient is complete and then freed.

    The Trainer gets transformers' LayerWiseDummyOptimizer, whose step does nothing;
    transformers' get_scheduler recognises it and schedules each weight's optimizer.
    """
    per_weight = {}
    for group in groups:
        settings = {key: value for key, value in group.items() if key != "params"}
        for param in group["params"]:
            per_weight[param] = optimizer_cls([{"params": [param], **settings}], **kwargs)

    def step_now(param: torch.nn.Parameter) -> None:
        if param.grad is not None:
            per_weight[param].step()
            per_weight[param].zero_grad()

    for param in per_weight:
        param.register_post_accumulate_grad_hook(step_now)
    return LayerWiseDummyOptimizer(optimizer_dict=per_weight, lr=kwargs["lr"])


# ---- BAdam: the model's decoder layers (layer mode) or a slice of each weight (ratio mode) take turns

LAYER_PREFIX = re.compile(r".*\.layers\.\d+\.")


def _badam_optimizer(trainable: NamedParameters, args, finetuning: FinetuningArgs, decay_names) -> torch.optim.Optimizer:
    groups = _decay_groups(trainable, decay_names, args.weight_decay)
    if finetuning.badam_mode == "ratio":
        from badam import BlockOptimizerRatio

        if args.weight_decay:
            logger.warning("BAdam ratio mode applies no weight decay (its sparse Adam has none); weight_decay is ignored.")
        return BlockOptimizerRatio(
            param_groups=groups,
            named_parameters_list=trainable,
            update_ratio=finetuning.badam_update_ratio,
            mask_mode=finetuning.badam_mask_mode,
            verbose=finetuning.badam_verbose,
            include_embedding=False,
            include_lm_head=not any("lm_head" in name for name, _ in trainable),  # a tied head is the embedding, left out already
            lr=args.learning_rate,
            betas=(args.adam_beta1, args.adam_beta2),
            eps=args.adam_epsilon,
        )
    from workflows.train.badam_blocks import ResumableBlockOptimizer

    blocks = _layer_blocks([name for name, _ in trainable])
    if finetuning.badam_start_block is not None and finetuning.badam_start_block >= len(blocks):
        raise ConfigError(
            f"`badam_start_block: {finetuning.badam_start_block}` is past the last trainable layer: "
            f"use 0 to {len(blocks) - 1} (this model has {len(blocks)} trainable layers)."
        )
    optimizer_cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args)
    return ResumableBlockOptimizer(
        base_optimizer=optimizer_cls(groups, **kwargs),
        named_parameters_list=trainable,
        block_prefix_list=[[prefix] for prefix in blocks],
        switch_block_every=finetuning.badam_switch_interval if finetuning.badam_switch_interval > 0 else sys.maxsize,
        start_block=finetuning.badam_start_block,
        switch_mode=finetuning.badam_switch_mode,
        verbose=finetuning.badam_verbose,
    )


def _layer_blocks(names: list[str]) -> list[str]:
    """The decoder layers' name prefixes (`model.layers.3.`) in model order; BAdam trains one at a time."""
    blocks = list(dict.fromkeys(match.group(0) for name in names if (match := LAYER_PREFIX.match(name))))
    if not blocks:
        raise ConfigError("BAdam layer mode found no trainable decoder layers (`*.layers.N.*`) in this model: use `badam_mode: ratio`.")
    return blocks


# ---- Adam-mini and Muon


def _adam_mini_optimizer(model, trainable: NamedParameters, args) -> torch.optim.Optimizer:
    from adam_mini import Adam_mini

    config = model.config
    return Adam_mini(
        named_parameters=trainable,
        lr=args.learning_rate,
        betas=(args.adam_beta1, args.adam_beta2),
        eps=args.adam_epsilon,
        weight_decay=args.weight_decay,
        dim=config.hidden_size,
        n_heads=config.num_attention_heads,
        n_kv_heads=getattr(config, "num_key_value_heads", None),
        verbose=False,
    )


def _muon_optimizer(model, trainable: NamedParameters, args, decay_names) -> torch.optim.Optimizer:
    """Muon for the 2-D weights inside the layers; AdamW for embeddings, the head, norms and biases (Muon is for hidden matrices)."""
    outer = {id(module.weight) for module in (model.get_input_embeddings(), model.get_output_embeddings()) if module is not None}
    hidden = [(name, param) for name, param in trainable if param.ndim == 2 and id(param) not in outer]
    if not hidden:
        raise ConfigError("`use_muon` found no trainable 2-D weights inside the layers: train some layers (full or freeze), or remove it.")
    hidden_ids = {id(param) for _, param in hidden}
    rest = [(name, param) for name, param in trainable if id(param) not in hidden_ids]
    # match_rms_adamw scales each update to AdamW's size, so the run's AdamW learning rate and weight decay fit both parts
    muon = torch.optim.Muon(
        [param for _, param in hidden], lr=args.learning_rate, weight_decay=args.weight_decay, adjust_lr_fn="match_rms_adamw"
    )
    adamw = torch.optim.AdamW(
        _decay_groups(rest, decay_names, args.weight_decay),
        lr=args.learning_rate,
        betas=(args.adam_beta1, args.adam_beta2),
        eps=args.adam_epsilon,
    )
    return CombinedOptimizer([muon, adamw])


class CombinedOptimizer(torch.optim.Optimizer):
    """Several optimizers over disjoint weights, seen by the Trainer, its scheduler and checkpoints as one.

    Its param_groups are the parts' own group dicts, so the scheduler's learning rate reaches every part;
    loading a state (accelerate does so when it prepares the optimizer) gives the parts new dicts, linked again.
    """

    def __init__(self, parts: list[torch.optim.Optimizer]):
        self.parts = parts
        super().__init__([group for part in parts for group in part.param_groups], defaults={})

    def step(self, closure: Callable | None = None):
        loss = closure() if closure is not None else None
        for part in self.parts:
            part.step()
        return loss

    def state_dict(self) -> dict:
        return {"parts": [part.state_dict() for part in self.parts]}

    def load_state_dict(self, state_dict: dict) -> None:
        for part, part_state in zip(self.parts, state_dict["parts"], strict=True):
            part.load_state_dict(part_state)
        self.param_groups = [group for part in self.parts for group in part.param_groups]
