"""BAdam's layer-mode optimizer, with a checkpoint that says which layer was training.

The package saves only the inner optimizer's state, so a resumed run would start
again at the first block, give that block the moments of the one that was
training, and take its first step at the schedule's initial learning rate. This
subclass saves the active block, the step count, the block order (random mode)
and the learning rates, and a resumed run continues exactly where it stopped.
Imported only when BAdam is used (it needs the `badam` package).
"""

from badam import BlockOptimizer


class ResumableBlockOptimizer(BlockOptimizer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.state_dict  # the package binds the inner optimizer's state_dict here, hiding the method below

    def state_dict(self) -> dict:
        return {
            "inner": self.base_optimizer.state_dict(),
            "active_block": self.block_prefix_list.index(self.active_param_prefixs),
            "next_block": self.current_block_idx,
            "global_step": self.global_step,
            "block_order": getattr(self, "block_order", None),
            "lrs": [group["lr"] for group in self.param_groups],
        }

    def load_state_dict(self, state_dict: dict) -> None:
        if state_dict["active_block"] != self.block_prefix_list.index(self.active_param_prefixs):
            self.current_block_idx = state_dict["active_block"]
            self.switch_trainable_params()  # makes that block trainable (and clears the inner state, loaded below)
        self.current_block_idx = state_dict["next_block"]
        if state_dict["block_order"] is not None:
            self.block_order = list(state_dict["block_order"])
        self.global_step = state_dict["global_step"]
        for group, lr in zip(self.param_groups, state_dict["lrs"], strict=True):
            group["lr"] = lr
        self.base_optimizer.load_state_dict(state_dict["inner"])
