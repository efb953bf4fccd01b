"""Check that the batched L2RM step and the per-caption loop reference compute the same step.

From one saved state (parameters, BatchNorm statistics, optimiser moments) both paths run the L2RM step
without updating anything, with the same planted pairs; the state is restored after each. Compared:

* ``scores_max_abs_diff``: ``max |S_batched - S_loop|`` of the clean batch's scores ``[B, B]``;
* ``loss_rel_diff``: the largest ``|a - b| / max(|b|, 1e-12)`` over the loss terms (triplet, rematch, cost);
* ``plan_rel_diff``: ``max |pi_batched - pi_loop| / max pi_loop`` of the partial-OT plans ``[B, B]``;
* ``grad_rel_diff``: ``max |g_batched - g_loop| / max |g_loop|`` over every parameter gradient of the
  model and the cost; a parameter only one side touches counts with its whole gradient, except the
  reasoning steps' key biases, which the loop differentiates (exactly zero in exact arithmetic: they
  cancel in the row softmax) and the batched head never uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workbench.bench.l2rm_step import L2RMStep, StepOutput

__all__ = ["Agreement", "TOLERANCES", "check_agreement"]

#: the largest differences accepted (float32 on either device; the loop and the batched head sum in
#: different orders, and the OT solve amplifies cost differences by 1/lam)
TOLERANCES = {"scores_max_abs_diff": 1e-4, "loss_rel_diff": 1e-3, "plan_rel_diff": 1e-2, "grad_rel_diff": 1e-2}


@dataclass(frozen=True)
class Agreement:
    scores_max_abs_diff: float
    loss_rel_diff: float
    plan_rel_diff: float
    grad_rel_diff: float

    def failures(self) -> list[str]:
        """The figures above their :data:`TOLERANCES`, as sentences (empty when the paths agree)."""
        return [f"{name} = {getattr(self, name):.3g} exceeds {limit:g}"
                for name, limit in TOLERANCES.items() if not getattr(self, name) <= limit]

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in TOLERANCES}


def _run(step: L2RMStep, loop: bool, seed: int) -> tuple[StepOutput, dict[str, torch.Tensor]]:
    state = step.snapshot()
    out = step.run("l2rm", loop=loop, precision="fp32", update=False, seed=seed)
    grads = step.gradients()
    step.restore(state)
    return out, grads


def _grad_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    scale = max((float(g.abs().max()) for g in b.values()), default=0.0)
    worst = 0.0
    for name in a.keys() | b.keys():
        if name in a and name in b:
            worst = max(worst, float((a[name] - b[name]).abs().max()))
        elif not (name.endswith(".key.bias") and ".graph." in name):
            worst = max(worst, float((a.get(name, b.get(name))).abs().max()))  # type: ignore[union-attr]
    return worst / max(scale, 1e-30)


def check_agreement(step: L2RMStep, seed: int = 0) -> Agreement:
    """Run both paths from one state and compare them (see the module docstring)."""
    batched, g_batched = _run(step, False, seed)
    loop, g_loop = _run(step, True, seed)
    assert batched.clean_scores is not None and loop.clean_scores is not None
    assert batched.plan is not None and loop.plan is not None
    loss = max(abs(batched.losses[k] - loop.losses[k]) / max(abs(loop.losses[k]), 1e-12) for k in loop.losses)
    plan = float((batched.plan - loop.plan).abs().max()) / max(float(loop.plan.abs().max()), 1e-30)
    return Agreement(scores_max_abs_diff=float((batched.clean_scores - loop.clean_scores).abs().max()),
                     loss_rel_diff=loss, plan_rel_diff=plan, grad_rel_diff=_grad_diff(g_batched, g_loop))
