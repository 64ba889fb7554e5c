"""The optimizers `--optimizer` chooses: AdamW (the course's), or Muon on the hidden matrices.

Muon (`torch.optim.Muon`, Jordan et al. 2024) orthogonalises each update of a weight matrix; AdamW
keeps what Muon is not for: embeddings, positions, the output layer, LayerNorm gains and biases (the
Muon README's split). Muon runs with `adjust_lr_fn="match_rms_adamw"` (Moonshot, "Muon is Scalable
for LLM Training"): its updates get AdamW's RMS, so one learning rate and one weight decay serve both
and the schedule sets them as it does for AdamW alone.

Where bf16 matrix products are emulated (a CPU without AVX512-BF16 or AMX), `torch.optim.Muon`'s
Newton–Schulz iterations, which it runs in bf16, cost 70x their fp32 time (8.4 s against 0.12 s per
step of the course's model on 2 AMD EPYC cores without AVX512; scripts/bench_newton_schulz.py): there `Muon` runs the same iterations
in fp32, and everywhere else it is torch's own step.

Why a small class and not two optimizers: the trainer, its schedule, `accelerate`'s `prepare` and
its checkpoints all take one `torch.optim.Optimizer`; `MuonAdamW` steps both and keeps both states
in one `state_dict`.
"""

from __future__ import annotations

import math

import torch

from ..utils import bf16_is_native

OPTIMIZERS = ("adamw", "muon")


def newton_schulz_dtype(device: torch.device | str) -> torch.dtype:
    """bf16 (torch's choice) where its matrix products are native (`bf16_is_native`), fp32 elsewhere."""
    return torch.bfloat16 if bf16_is_native(device) else torch.float32


def orthogonalize(update: torch.Tensor, group: dict, dtype: torch.dtype) -> torch.Tensor:
    """`torch.optim.Muon`'s quintic Newton–Schulz iteration (its coefficients, steps and eps), in dtype."""
    a, b, c = group["ns_coefficients"]
    x = update.to(dtype)
    tall = x.size(0) > x.size(1)
    if tall:
        x = x.T
    x = x / x.norm().clamp(min=group["eps"])  # spectral norm at most 1
    for _ in range(group["ns_steps"]):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if tall else x


class Muon(torch.optim.Muon):
    """`torch.optim.Muon` with its Newton–Schulz iterations in `ns_dtype` (`newton_schulz_dtype`).

    With bf16 the step is torch's own. Otherwise it is the same update (momentum, Nesterov, decoupled
    weight decay, `adjust_lr_fn="match_rms_adamw"`) with the iterations in that dtype; the state is
    torch's ("momentum_buffer"), so a checkpoint resumes under either.
    """

    def __init__(self, params, *, ns_dtype: torch.dtype = torch.bfloat16, **kwargs):
        super().__init__(params, **kwargs)
        if kwargs.get("adjust_lr_fn") != "match_rms_adamw":
            raise ValueError("knowgpt's Muon runs with adjust_lr_fn='match_rms_adamw'")
        self.ns_dtype = ns_dtype

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None:
            raise ValueError("Muon.step takes no closure")
        if self.ns_dtype == torch.bfloat16:
            return super().step()
        self.step_in(self.ns_dtype)
        return None

    @torch.no_grad()
    def step_in(self, dtype: torch.dtype) -> None:
        """torch's step (`torch.optim._muon._single_tensor_muon`) with the iterations in dtype."""
        for group in self.param_groups:
            lr, momentum = group["lr"], group["momentum"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(param.grad)
                buf = state["momentum_buffer"]
                buf.lerp_(param.grad, 1 - momentum)
                update = param.grad.lerp(buf, momentum) if group["nesterov"] else buf
                update = orthogonalize(update, group, dtype)
                param.mul_(1 - lr * group["weight_decay"])
                param.add_(update, alpha=-lr * (0.2 * math.sqrt(max(param.shape[:2]))))


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
    device: torch.device | str = "cpu",
) -> torch.optim.Optimizer:
    """AdamW over `groups` ({"params": {name: param}, "weight_decay": wd} each), or, for "muon",
    Muon over the `hidden` parameters of each group (with that group's decay) and AdamW over the rest;
    Muon's Newton–Schulz dtype is `newton_schulz_dtype(device)`, the device the model trains on."""
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
    muon = Muon(
        muon_groups, lr=lr, adjust_lr_fn="match_rms_adamw", ns_dtype=newton_schulz_dtype(device)
    )
    return MuonAdamW(muon, torch.optim.AdamW(split(False), lr=lr, betas=betas))
