"""Learning-rate schedules. `cs224n` is the course's token-based schedule, reproduced exactly.

The course (minGPT trainer) counts every target position of a step, PAD included, and sets the
learning rate *after* each optimizer step from the tokens seen so far; step 1 runs at the base rate.
Its cosine is `max(0.1, 0.5 (1 + cos(π·progress)))` with progress not clipped, so past final_tokens
the rate climbs back up (one full cycle every 2·(final_tokens − warmup_tokens) tokens).

Why not transformers' `get_cosine_with_min_lr_schedule_with_warmup`: it is a `LambdaLR` of the step
count, known in advance. Here `cs224n` counts tokens, and `cosine` under `--max_minutes` decays over
training *time* (the step count of a wall-clock budget is only known at its end); one small class
covers the three, and its state (tokens, steps, seconds) travels in the checkpoint's trainer_state.
"""

from __future__ import annotations

import math

SCHEDULES = ("cs224n", "cosine", "constant")


def cs224n_lr_mult(tokens: float, warmup_tokens: float, final_tokens: float) -> float:
    """The course's multiplier after `tokens` training tokens (linear warmup, then unclipped cosine ≥ 0.1)."""
    if tokens < warmup_tokens:
        return float(tokens) / float(max(1, warmup_tokens))
    progress = float(tokens - warmup_tokens) / float(max(1, final_tokens - warmup_tokens))
    return max(0.1, 0.5 * (1.0 + math.cos(math.pi * progress)))


def cosine_lr_mult(step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.1) -> float:
    """Linear warmup over `warmup_steps`, then cosine from 1 to `min_ratio` at `total_steps` (then flat)."""
    if step < warmup_steps:
        return (step + 1) / max(1, warmup_steps)
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class LRSchedule:
    """Sets the optimizer's learning rate before each optimizer step; its state is saved with checkpoints.

    Args:
        optimizer: the optimizer whose param groups get `base_lr * multiplier`.
        name: one of `SCHEDULES`.
        base_lr: the peak learning rate.
        warmup_tokens, final_tokens: the `cs224n` schedule's token counts.
        warmup_steps, total_steps: the `cosine` schedule's step counts.
        budget_seconds: for a wall-clock budget, `cosine` decays over training time instead of steps.
    """

    def __init__(
        self,
        optimizer,
        name: str,
        base_lr: float,
        *,
        warmup_tokens: int = 512 * 20,
        final_tokens: int = 0,
        warmup_steps: int = 0,
        total_steps: int = 1,
        budget_seconds: float | None = None,
    ):
        if name not in SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {SCHEDULES}, got {name!r}")
        self.optimizer, self.name, self.base_lr = optimizer, name, base_lr
        self.warmup_tokens, self.final_tokens = warmup_tokens, final_tokens
        self.warmup_steps, self.total_steps = warmup_steps, total_steps
        self.budget_seconds = budget_seconds
        self.tokens, self.steps, self.seconds = 0, 0, 0.0

    def multiplier(self) -> float:
        if self.name == "cs224n":
            # Before any step the course still holds the optimizer's initial (base) rate.
            return (
                1.0
                if self.tokens == 0
                else cs224n_lr_mult(self.tokens, self.warmup_tokens, self.final_tokens)
            )
        if self.name == "cosine" and self.budget_seconds:
            if self.steps < self.warmup_steps:
                return (self.steps + 1) / self.warmup_steps
            return cosine_lr_mult(
                int(1e6 * min(1.0, self.seconds / self.budget_seconds)), 0, int(1e6)
            )
        if self.name == "cosine":
            return cosine_lr_mult(self.steps, self.warmup_steps, self.total_steps)
        return 1.0

    def apply(self) -> float:
        """Set and return the learning rate for the coming optimizer step."""
        lr = self.base_lr * self.multiplier()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def advance(self, tokens: int, seconds: float = 0.0) -> None:
        """Record one optimizer step that consumed `tokens` (course-counted) tokens and `seconds` of training."""
        self.tokens += int(tokens)
        self.steps += 1
        self.seconds += seconds

    def state_dict(self) -> dict:
        return {"tokens": self.tokens, "steps": self.steps, "seconds": self.seconds}

    def load_state_dict(self, state: dict) -> None:
        self.tokens, self.steps = int(state["tokens"]), int(state["steps"])
        self.seconds = float(state.get("seconds", 0.0))
