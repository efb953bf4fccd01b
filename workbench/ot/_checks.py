"""Input validation and batching shared by the OT solvers.

Everything a caller can get wrong is checked here, up front, with a :class:`~workbench.errors.ConfigError`
(a ``ValueError``) that names the argument, the problem index in the batch and what was expected. The
solvers then work on a flat batch ``[B, n, m]`` whatever the caller's leading dimensions were.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import torch
from torch import Tensor

from workbench.errors import ConfigError
from workbench.ot._numerics import NEG

__all__ = ["Batch", "prepare", "check_options", "check_numbers", "check_balanced", "check_mass", "flow_bound"]


@dataclass(frozen=True)
class Batch:
    """A validated OT input, flattened to one batch dimension.

    Attributes:
        cost: ``[B, n, m]`` float32 or float64.
        a: ``[B, n]`` non-negative row masses, same dtype and device as ``cost``.
        b: ``[B, m]`` non-negative column masses.
        mask: ``[B, n, m]`` or ``[1, n, m]`` (one mask shared by the batch) bool, True where transport
            is allowed; None means all allowed. Not expanded: bool kernels are slow on CPU, so the
            solvers work with :meth:`log_mask` and broadcasting.
        batch_shape: the caller's leading dimensions (``()`` for a single problem); ``B`` is their product.
    """

    cost: Tensor
    a: Tensor
    b: Tensor
    mask: Tensor | None
    batch_shape: torch.Size

    def log_mask(self) -> Tensor | None:
        """Additive log-mask, same shape as ``mask``: 0 where allowed, :data:`NEG` where masked."""
        if self.mask is None:
            return None
        return torch.zeros(self.mask.shape, dtype=self.cost.dtype, device=self.cost.device).masked_fill(
            ~self.mask, NEG
        )

    def mask_for(self, rows: Tensor) -> Tensor | None:
        """The mask of a sub-batch selected by the bool ``rows`` ``[B]``."""
        if self.mask is None or self.mask.shape[0] == 1:
            return self.mask
        return self.mask[rows]

    def unflatten(self, x: Tensor) -> Tensor:
        """Reshape ``[B, ...]`` back to ``[*batch_shape, ...]``."""
        return x.reshape((*self.batch_shape, *x.shape[1:]))


def _where(caller: str, batch_shape: torch.Size, flat_index: int) -> str:
    if not batch_shape:
        return caller
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat_index), batch_shape))
    return f"{caller}, problem {index if len(index) > 1 else index[0]} of the batch"


def _marginal(
    x: Tensor | None, name: str, size: int, cost: Tensor, batch_shape: torch.Size, caller: str
) -> Tensor:
    if x is None:  # uniform 1/size, the default of the L2RM paper (Sec. 4.3)
        return torch.full((*batch_shape, size), 1.0 / size, dtype=cost.dtype, device=cost.device)
    x = torch.as_tensor(x, dtype=cost.dtype, device=cost.device)
    try:
        ok = x.ndim >= 1 and x.shape[-1] == size
        ok = ok and torch.broadcast_shapes(x.shape[:-1], batch_shape) == batch_shape
    except RuntimeError:
        ok = False
    if not ok:
        raise ConfigError(
            f"{caller}: {name} has shape {list(x.shape)}; expected [{size}] or {[*batch_shape, size]}"
        )
    return x.expand(*batch_shape, size)


def prepare(cost: Tensor, a: Tensor | None, b: Tensor | None, mask: Tensor | None, *, caller: str) -> Batch:
    """Check shapes, dtypes and values of an OT input and flatten it to ``[B, n, m]``.

    Checks: ``cost`` is a float32/float64 tensor of rank >= 2, finite wherever ``mask`` allows
    transport; ``a`` / ``b`` broadcast to the batch, are finite and non-negative with a positive total;
    ``mask`` is bool and broadcasts to ``cost``.

    Raises:
        ConfigError: naming the argument (and batch index) at fault.
    """
    if not isinstance(cost, Tensor):
        raise ConfigError(f"{caller}: cost must be a torch.Tensor, got {type(cost).__name__}")
    if cost.dtype not in (torch.float32, torch.float64):
        raise ConfigError(f"{caller}: cost has dtype {cost.dtype}; expected torch.float32 or torch.float64")
    if cost.ndim < 2 or cost.shape[-1] == 0 or cost.shape[-2] == 0:
        raise ConfigError(
            f"{caller}: cost has shape {list(cost.shape)}; expected [n, m] or [B, n, m], n, m >= 1"
        )
    batch_shape, (n, m) = cost.shape[:-2], cost.shape[-2:]
    size = math.prod(batch_shape)
    a_full = _marginal(a, "a", n, cost, batch_shape, caller).reshape(size, n)
    b_full = _marginal(b, "b", m, cost, batch_shape, caller).reshape(size, m)
    flat_cost = cost.reshape(size, n, m)

    flat_mask = None
    if mask is not None:
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            raise ConfigError(f"{caller}: mask must be a bool tensor (True = transport allowed)")
        try:
            mask = mask.to(cost.device)
            mask_batch = torch.broadcast_shapes(mask.shape[:-2], batch_shape) if mask.ndim >= 2 else None
            if mask_batch != batch_shape or mask.shape[-2:] != (n, m):
                raise RuntimeError
        except RuntimeError:
            raise ConfigError(
                f"{caller}: mask has shape {list(mask.shape)}; expected [{n}, {m}] or {list(cost.shape)}"
            ) from None
        if math.prod(mask.shape[:-2]) == 1:
            flat_mask = mask.reshape(1, n, m)
        else:
            flat_mask = mask.expand(*batch_shape, n, m).reshape(size, n, m)

    # Fast path: a finite sum means finite entries. Otherwise find the culprits, which are fine where
    # masked: the solvers never read them, and they are zeroed so that arithmetic stays finite.
    if not torch.isfinite(flat_cost.detach().sum()):
        finite = torch.isfinite(flat_cost.detach())
        bad = (~finite if flat_mask is None else ~finite & flat_mask).flatten(1).any(dim=1)
        if bad.any():
            where = _where(caller, batch_shape, int(bad.nonzero()[0]))
            raise ConfigError(
                f"{where}: cost has non-finite entries where transport is allowed (mask them out)"
            )
        flat_cost = torch.where(finite, flat_cost, torch.zeros_like(flat_cost))
    with torch.no_grad():
        for name, x in (("a", a_full), ("b", b_full)):
            bad = ~(torch.isfinite(x) & (x >= 0)).all(dim=1) | (x.sum(dim=1) <= 0)
            if bad.any():
                where = _where(caller, batch_shape, int(bad.nonzero()[0]))
                raise ConfigError(f"{where}: {name} must be finite and non-negative with a positive total")
    return Batch(flat_cost, a_full, b_full, flat_mask, batch_shape)


def check_options(caller: str, **options: tuple[str, Collection[str]]) -> None:
    """Check string options: ``name=(value, allowed)``."""
    for name, (value, allowed) in options.items():
        if value not in allowed:
            raise ConfigError(f"{caller}: {name}={value!r}; expected one of {', '.join(map(repr, allowed))}")


def check_numbers(caller: str, *, eps: float, tol: float, max_iter: int, check_every: int) -> None:
    """Check the solver's numeric parameters."""
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
        raise ConfigError(f"{caller}: eps={eps!r}; expected a finite float > 0 (the entropic regularisation)")
    if not (isinstance(tol, (int, float)) and tol >= 0):
        raise ConfigError(f"{caller}: tol={tol!r}; expected a float >= 0")
    for name, value in (("max_iter", max_iter), ("check_every", check_every)):
        if not (isinstance(value, int) and value >= 1):
            raise ConfigError(f"{caller}: {name}={value!r}; expected an int >= 1")


def _rtol(dtype: torch.dtype) -> float:
    # Masses are sums of n rounded numbers: allow for that, not for real mismatches.
    return math.sqrt(torch.finfo(dtype).eps)


def flow_bound(batch: Batch) -> Tensor:
    """An upper bound ``[B]`` on the mass a plan supported on the mask can carry.

    By max-flow/min-cut (Gale's theorem) a plan on the allowed entries with row sums <= a and column
    sums <= b can carry ``rho`` iff ``rho <= sum(a[~I]) + sum(b[N(I)])`` for every row set ``I``,
    ``N(I)`` being the columns some row of ``I`` may reach. We take the minimum over the cuts that
    matter in practice: ``I`` = the rows with positive mass (the live column mass), the row-side
    counterpart (the live row mass; a row is dead when every column it may reach has zero mass, e.g. a
    fully masked row), and every single row ``{i}`` (``sum(a) - a_i + sum(b[N(i)])``) and single
    column. For the L2RM diagonal mask this is exact, because any two rows together reach every
    column; for other masks it is a necessary condition.
    """
    sa, sb = batch.a.sum(dim=1), batch.b.sum(dim=1)
    if batch.mask is None:
        return torch.minimum(sa, sb)
    reach = batch.mask.to(batch.cost.dtype)
    if reach.shape[0] == 1:  # one mask for the whole batch: plain matrix products
        row_reach = batch.b @ reach[0].T  # [B, n]: column mass row i may reach
        col_reach = batch.a @ reach[0]  # [B, m]: row mass column j may reach
    else:
        row_reach = torch.bmm(reach, batch.b[:, :, None]).squeeze(2)
        col_reach = torch.bmm(batch.a[:, None, :], reach).squeeze(1)
    live_a = (batch.a * (row_reach > 0)).sum(dim=1)
    live_b = (batch.b * (col_reach > 0)).sum(dim=1)
    single_row = (sa[:, None] - batch.a + row_reach).amin(dim=1)
    single_col = (sb[:, None] - batch.b + col_reach).amin(dim=1)
    return torch.stack([live_a, live_b, single_row, single_col]).amin(dim=0)


def check_balanced(batch: Batch, *, caller: str) -> None:
    """Balanced OT needs equal totals and every row's / column's mass to have somewhere to go."""
    with torch.no_grad():
        sa, sb = batch.a.sum(dim=1), batch.b.sum(dim=1)
        bad = (sa - sb).abs() > _rtol(batch.cost.dtype) * torch.maximum(sa, sb)
        if bad.any():
            i = int(bad.nonzero()[0])
            raise ConfigError(
                f"{_where(caller, batch.batch_shape, i)}: sum(a)={float(sa[i]):.8g} != sum(b)={float(sb[i]):.8g}; "
                "balanced OT needs equal totals (use partial_ot for unequal masses)"
            )
        if batch.mask is not None:
            bad = flow_bound(batch) < sa * (1.0 - _rtol(batch.cost.dtype))
            if bad.any():
                raise ConfigError(
                    f"{_where(caller, batch.batch_shape, int(bad.nonzero()[0]))}: infeasible mask: no plan on the "
                    "allowed entries meets the marginals (a row's mass exceeds the column mass it may reach, "
                    "or vice versa; a fully masked row or column with positive mass is one such case)"
                )


def check_mass(batch: Batch, mass: float | Tensor, *, caller: str) -> Tensor:
    """Validate the transported mass ``rho`` and return it as ``[B]``.

    Requires ``0 <= rho <= min(sum(a), sum(b))`` and ``rho <=`` :func:`flow_bound`. With the dummy-point
    formulation a fully masked real row is allowed as long as the other rows can carry ``rho``: its
    mass simply goes to the dummy column.
    """
    rows, cols = batch.a.sum(dim=1), batch.b.sum(dim=1)
    rho = torch.as_tensor(mass, dtype=batch.cost.dtype, device=batch.cost.device)
    try:
        rho = rho.expand(batch.batch_shape).reshape(-1)
    except RuntimeError:
        raise ConfigError(
            f"{caller}: mass has shape {list(rho.shape)}; expected a float or shape {list(batch.batch_shape)}"
        ) from None
    with torch.no_grad():
        bad = ~torch.isfinite(rho) | (rho < 0)
        if bad.any():
            raise ConfigError(
                f"{_where(caller, batch.batch_shape, int(bad.nonzero()[0]))}: mass must be finite and >= 0"
            )
        slack = 1.0 + _rtol(batch.cost.dtype)
        cap = torch.minimum(rows, cols)
        bad = rho > cap * slack
        if bad.any():
            i = int(bad.nonzero()[0])
            raise ConfigError(
                f"{_where(caller, batch.batch_shape, i)}: mass={float(rho[i]):.8g} exceeds "
                f"min(sum(a), sum(b))={float(cap[i]):.8g}; the problem is infeasible"
            )
        live = flow_bound(batch)
        bad = rho > live * slack
        if bad.any():
            i = int(bad.nonzero()[0])
            raise ConfigError(
                f"{_where(caller, batch.batch_shape, i)}: mass={float(rho[i]):.8g} exceeds the {float(live[i]):.8g} "
                "that the mask lets move (a fully masked row or column, or one whose every allowed partner has "
                "zero mass, cannot transport; nor can a row send more than the column mass it may reach)"
            )
    return torch.minimum(rho, cap)
