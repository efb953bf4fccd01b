r"""Is a returned plan a solution at all? A relative check of marginals and mass, and what to do.

``converged`` only says whether a stopping rule fired, and the reference code's rule fires on plans
that moved no mass (:math:`\lambda = 10^{-4}` with costs in [0, 1]: two iterations, ``converged=True``,
mass 0 instead of :math:`\rho`). A caller that does not look would train on such plans. So every solver
measures how far its plan is from the constraints,

.. math::

    r = \max\Big(\frac{\text{marginal error}}{\text{total mass}},\;
                 \frac{|\,\mathbf 1^\top \pi \mathbf 1 - \rho\,|}{\rho}\Big)

(the second term for partial OT only; ``total mass`` is that of the problem actually solved, e.g. the
dummy-extended one), flags the problems with :math:`r >` ``rtol`` (default 0.1: a tenth of the mass
misplaced) and, by its ``accuracy`` argument, warns (:class:`OTAccuracyWarning`, the default), raises
(:class:`OTAccuracyError`) or only reports (``"ignore"``; the result's ``inaccurate`` flags). Typical
causes: costs large against ``eps`` (``max C / eps`` in the thousands), negative costs with the
dummy-point partial formulation (its dummy costs 0 then undercut the real block, which carries far
more than :math:`\rho`), an early-stopping rule.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import torch
from torch import Tensor

from workbench.errors import ConfigError, WorkbenchError

__all__ = ["Accuracy", "OTAccuracyWarning", "OTAccuracyError", "relative_error", "enforce", "check_accuracy_args"]

Accuracy = Literal["warn", "raise", "ignore"]
DEFAULT_RTOL = 0.1


class OTAccuracyWarning(UserWarning):
    """A plan is far from its marginals or its mass (see :mod:`workbench.ot.accuracy`)."""


class OTAccuracyError(WorkbenchError, ArithmeticError):
    """A plan is far from its marginals or its mass, and the caller asked for an error."""


def check_accuracy_args(caller: str, accuracy: str, rtol: float) -> None:
    """Validate the ``accuracy`` policy and its relative tolerance."""
    if accuracy not in ("warn", "raise", "ignore"):
        raise ConfigError(f"{caller}: accuracy={accuracy!r}; expected one of 'warn', 'raise', 'ignore'")
    if not (isinstance(rtol, (int, float)) and math.isfinite(rtol) and rtol > 0):
        raise ConfigError(f"{caller}: accuracy_rtol={rtol!r}; expected a finite float > 0")


@torch.no_grad()
def relative_error(marginal_error: Tensor, total: Tensor, transported: Tensor | None = None,
                   mass: Tensor | None = None) -> Tensor:
    """``r`` ``[B]`` of the module docstring (0 where a problem has nothing to move)."""
    total = total.detach().to(marginal_error.dtype)
    r = torch.where(total > 0, marginal_error.detach() / total.clamp_min(torch.finfo(total.dtype).tiny),
                    torch.zeros_like(marginal_error))
    if transported is not None and mass is not None:
        mass = mass.detach().to(r.dtype)
        gap = (transported.detach().to(r.dtype) - mass).abs()
        scale = torch.maximum(mass, 1e-6 * total)
        r = torch.maximum(r, torch.where(scale > 0, gap / scale.clamp_min(torch.finfo(r.dtype).tiny), gap))
    return torch.nan_to_num(r, nan=math.inf)


def enforce(caller: str, inaccurate: Tensor, error: Tensor, *, eps: float, rtol: float,
            accuracy: Accuracy) -> None:
    """Warn or raise when any problem is flagged (a sentence naming how many, the worst ``r``, ``eps``)."""
    if accuracy == "ignore":
        return
    bad = int(inaccurate.sum())
    if not bad:
        return
    worst = float(error.max())
    message = (f"{caller}: {bad} of {inaccurate.numel()} plan(s) miss their marginals or mass by more than "
               f"{rtol:g} (worst relative error {worst:.3g}, eps={eps:g}); the plan is not a solution. Likely "
               "causes: costs too large for eps (scale eps with the costs), negative costs (shift them to >= 0), "
               "too few iterations or an early stopping rule")
    if accuracy == "raise":
        raise OTAccuracyError(message)
    warnings.warn(message, OTAccuracyWarning, stacklevel=3)
