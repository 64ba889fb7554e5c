"""The optimizers `--optimizer` chooses: AdamW (the course's), or Muon on the hidden matrices.

Muon (`torch.optim.Muon`, Jordan et al. 2024) orthogonalises each update of a weight matrix; AdamW
keeps what Muon is not for: embeddings, positions, the output layer, LayerNorm gains and biases (the
Muon README's split). Muon runs with `adjust_lr_fn="match_rms_adamw"` (Moonshot, "Muon is Scalable
for LLM Training"): its updates get AdamW's RMS, so one learning rate and one weight decay serve both
and the schedule sets them as it does for AdamW alone.

Why a small class and not two optimizers: the trainer, its schedule, `accelerate`'s `prepare` and
its checkpoints all take one `torch.optim.Optimizer`; `MuonAdamW` steps both and keeps both states
in one `state_dict`.
"""

from __future__ import annotations

import torch

OPTIMIZERS = ("adamw", "muon")


class MuonAdamW(torch.optim.Optimizer):
    """`torch.optim.Muon` and `torch.optim.AdamW` stepped as one optimizer.

    `param_groups` are both optimizers' own group dicts (Muon's first), so setting a group's "lr"
    sets the optimizer's; `state_dict` holds both states under "muon" and "adamw".
    """

    def __init__(self, muon: torch.optim.Muon, adamw: torch.optim.AdamW):
        # Not Optimizer.__init__: the groups and states live in the two optimizers.
        self.muon, self.adamw = muon, adamw
        self.defaults = adamw.defaults
        self._optimizer_step_pre_hooks, self._optimizer_step_post_hooks = {}, {}

    @property
    def param_groups(self) -> list[dict]:
        return self.muon.param_groups + self.adamw.param_groups

    @property
    def state(self) -> dict:
        return {**self.muon.state, **self.adamw.state}

    def step(self, closure=None):
        if closure is not None:
            raise ValueError("MuonAdamW.step takes no closure")
        self.muon.step()
        self.adamw.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.muon.zero_grad(set_to_none=set_to_none)
        self.adamw.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"muon": self.muon.state_dict(), "adamw": self.adamw.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        if set(state_dict) != {"muon", "adamw"}:
            raise ValueError(
                f"not a MuonAdamW state (keys {sorted(state_dict)}); was it saved with --optimizer "
                "adamw?"
            )
        self.muon.load_state_dict(state_dict["muon"])
        self.adamw.load_state_dict(state_dict["adamw"])

    def __repr__(self) -> str:
        return f"MuonAdamW(\n{self.muon!r},\n{self.adamw!r})"


def hidden_matrices(model: torch.nn.Module) -> set[str]:
    """Names of the weights Muon trains: every `nn.Linear`'s but the output layer's."""
    head = model.get_output_embeddings()
    return {
        f"{name}.weight"
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and module is not head
    }


def make_optimizer(
    name: str,
    groups: list[dict],
    hidden: set[str],
    lr: float,
    betas: tuple[float, float],
) -> torch.optim.Optimizer:
    """AdamW over `groups` ({"params": {name: param}, "weight_decay": wd} each), or, for "muon",
    Muon over the `hidden` parameters of each group (with that group's decay) and AdamW over the rest."""
    if name == "adamw":
        return torch.optim.AdamW(
            [{**g, "params": list(g["params"].values())} for g in groups], lr=lr, betas=betas
        )
    if name != "muon":
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")

    def split(take: bool) -> list[dict]:
        parts = [{**g, "params": [p for n, p in g["params"].items() if (n in hidden) == take]}
                 for g in groups]  # fmt: skip
        return [g for g in parts if g["params"]]

    muon_groups = split(True)
    if not muon_groups:
        raise ValueError("--optimizer muon: the model has no trainable hidden matrices")
    muon = torch.optim.Muon(muon_groups, lr=lr, adjust_lr_fn="match_rms_adamw")
    return MuonAdamW(muon, torch.optim.AdamW(split(False), lr=lr, betas=betas))
