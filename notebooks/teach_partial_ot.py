# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python (workbench)
#     language: python
#     name: workbench
# ---

# %% [markdown]
# # Partial optimal transport and the dummy point
#
# Balanced OT must move *all* the mass. In a batch of mismatched pairs, some captions fit no image of the
# batch at all; forcing their mass somewhere creates false rematches. L2RM therefore moves only a fraction ρ
# of the mass (**partial OT**, Eq. 7) and solves it as a balanced problem with one extra *dummy* point on
# each side (Appendix B, Eq. 12–14). This notebook checks each step on a toy problem with outliers.

# %% tags=["parameters"]
n_points: int = 10  # points per cloud
n_outliers: int = 3  # target points moved far from every source point
threads: int = 1  # torch threads (small problems: more threads only add overhead)
seed: int = 0  # seed of the point clouds

# %%
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch

from workbench import teaching, viz
from workbench.ot import partial_ot

torch.set_num_threads(threads)

rng = np.random.default_rng(seed)
angles = 2 * np.pi * np.arange(n_points) / n_points
x = 3.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)  # sources on a circle
y = x + 0.15 * rng.normal(size=(n_points, 2))  # each target near one source point ...
y[:n_outliers] += np.array([8.0, 0.0])  # ... except the outliers, moved far away
C = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
C = C / C[:, n_outliers:].max()  # inlier costs in [0, 1]; the outliers cost far more
a = np.full(n_points, 1.0 / n_points)
b = np.full(n_points, 1.0 / n_points)
rho = 1.0 - n_outliers / n_points  # exactly the mass the inliers can take

# %% [markdown]
# ## 1. Partial OT (Eq. 7)
#
# $$\min_{\pi \ge 0} \langle \pi, C\rangle_F \quad\text{s.t.}\quad \pi 1_m \le a,\; \pi^\top 1_n \le b,\;
# 1_n^\top \pi 1_m = \rho, \qquad 0 \le \rho \le \min(\|a\|_1, \|b\|_1).$$
#
# The marginals are now *capacities*: a point may keep part (or all) of its mass. The exact solution (a
# linear programme) moves the ρ cheapest units — here it leaves the outliers alone.

# %%
partial = teaching.exact_ot(C, a, b, mass=rho)
received = partial.plan.sum(0)
print(f"transported {partial.plan.sum():.3f} = rho; mass received by the {n_outliers} outliers: "
      f"{received[:n_outliers].sum():.2e}, by the inliers: {received[n_outliers:].sum():.3f}")
assert np.isclose(partial.plan.sum(), rho) and received[:n_outliers].sum() < 1e-9

fig = go.Figure()
for i, j in zip(*np.nonzero(partial.plan > 1e-9), strict=True):
    fig.add_trace(go.Scatter(x=[x[i, 0], y[j, 0]], y=[x[i, 1], y[j, 1]], mode="lines", showlegend=False,
                             line=dict(color="#999999", width=1 + 20 * partial.plan[i, j]), hoverinfo="skip"))
fig.add_trace(go.Scatter(x=x[:, 0], y=x[:, 1], mode="markers", name="source", marker_size=10))
fig.add_trace(go.Scatter(x=y[:, 0], y=y[:, 1], mode="markers", name="target (3 outliers on the right)",
                         marker_size=10))
fig.update_layout(template=viz.TEMPLATE, title=f"Exact partial plan, ρ = {rho:g}", height=380,
                  yaxis_scaleanchor="x")
fig

# %% [markdown]
# ## 2. The dummy point (Eq. 12–14)
#
# Add a dummy target that absorbs what each source does not transport, and a dummy source that fills what
# each target does not receive:
#
# $$\hat C = \begin{bmatrix} C & \xi 1_n \\ \xi 1_m^\top & 2\xi + A \end{bmatrix},\qquad
# \hat a = \begin{bmatrix} a \\ \|b\|_1 - \rho \end{bmatrix},\qquad
# \hat b = \begin{bmatrix} b \\ \|a\|_1 - \rho \end{bmatrix},\qquad
# \hat M = \begin{bmatrix} M & 1_n \\ 1_m^\top & 1 \end{bmatrix}.$$
#
# Balanced OT on $(\hat a, \hat b, \hat C)$ has total mass $\|a\|_1 + \|b\|_1 - \rho$. If the corner (dummy to
# dummy) stays empty, the dummy column takes $\|a\|_1 - (\text{real transport})$ and is filled to exactly
# $\|a\|_1 - \rho$, so the real block carries exactly ρ. The corner costs $2\xi + A$ with $A > \max C$,
# which keeps it empty, and the real block is then the partial plan.

# %%
ext = teaching.dummy_extension(C, a, b, rho)
solved = teaching.exact_ot(ext.cost, ext.a, ext.b)
real = solved.plan[:-1, :-1]
assert np.abs(real - partial.plan).max() < 1e-9
pd.DataFrame({
    "quantity": ["real block vs partial plan: max |difference|", "real block mass (ρ)",
                 "dummy column = a − rows", "dummy row = b − columns", "corner"],
    "value": [np.abs(real - partial.plan).max(), real.sum(),
              np.abs(solved.plan[:-1, -1] - (a - real.sum(1))).max(),
              np.abs(solved.plan[-1, :-1] - (b - real.sum(0))).max(), solved.plan[-1, -1]],
})

# %% [markdown]
# ## 3. ξ does not change the plan
#
# Adding a constant to a whole row or column of the cost adds the same amount to every feasible plan's cost
# (the row's total mass is fixed). The dummy column costs ξ for every real row, the dummy row ξ for every real
# column, the corner $2\xi + A$: shifting the dummy row and column by $-\xi$ leaves costs $0, 0, A$ — the same
# problem for every ξ. Exactly, and with entropy, where the shift moves into the dual potentials.

# %%
baseline = partial_ot(torch.from_numpy(C), mass=rho, eps=0.05, tol=1e-12, max_iter=5000).plan
rows = []
for xi in (0.0, 1.0, 100.0):
    ext_xi = teaching.dummy_extension(C, a, b, rho, xi=xi)
    exact_xi = teaching.exact_ot(ext_xi.cost, ext_xi.a, ext_xi.b).plan[:-1, :-1]
    entropic_xi = partial_ot(torch.from_numpy(C), mass=rho, eps=0.05, xi=xi, tol=1e-12, max_iter=5000).plan
    rows.append({"xi": xi, "exact: max |Δ plan| vs ξ = 0": np.abs(exact_xi - real).max(),
                 "entropic, ε = 0.05: max |Δ plan| vs ξ = None": (entropic_xi - baseline).abs().max().item()})
xi_table = pd.DataFrame(rows)
assert (xi_table.drop(columns="xi").to_numpy() < 1e-6).all()
xi_table

# %% [markdown]
# ξ still matters *numerically*: it enters the potentials' magnitude. The reference code's ξ = 100·max C puts
# $\xi/\varepsilon$ in the thousands, where float32 rounding is ~1e-4 of the values: on L2RM's problem
# (128 × 128, ρ = 0.1, λ = 0.01, diagonal masked) the float32 plan is then ~100× less accurate. The library
# therefore solves with the shifted costs (ξ = None) unless asked otherwise.

# %%
gen = torch.Generator().manual_seed(seed)
S = torch.rand(128, 128, generator=gen, dtype=torch.float64) * 1.1 - 0.2  # similarities in [-0.2, 0.9]
cost64 = torch.relu(1 - S)  # the learnable cost at its initialisation
mask = ~torch.eye(128, dtype=torch.bool)
reference = partial_ot(cost64, mass=0.1, eps=0.01, mask=mask, tol=1e-12, max_iter=5000).plan
errors = []
for xi in (None, 100 * float(cost64.max())):
    r = partial_ot(cost64.float(), mass=0.1, eps=0.01, xi=xi, mask=mask, max_iter=5000)
    error = float((r.plan.double() - reference).abs().max() / reference.max())
    errors.append(error)
    print(f"float32, xi={xi}: converged={r.converged}, plan error vs float64 {error:.1e} (of the largest)")
assert errors[0] < errors[1]

# %% [markdown]
# ## 4. What ρ does
#
# Partial OT moves the cheapest mass first: as ρ grows the plan takes more expensive pairs, so the average
# cost per unit moved grows (the optimal cost is convex in ρ). In L2RM, ρ = 0.1 of a batch's mass means
# only the most confident rematches carry real mass; the other rows' targets come from the clipped remainder.

# %%
rows = []
for r in np.linspace(0.1, 1.0, 10):
    sol = teaching.exact_ot(C, a, b, mass=r)
    rows.append({"rho": r, "cost per unit moved": sol.value / r,
                 "mass to outliers": sol.plan[:, :n_outliers].sum(),
                 "sources transporting": int((sol.plan.sum(1) > 1e-9).sum())})
sweep = pd.DataFrame(rows)
assert sweep["cost per unit moved"].is_monotonic_increasing  # the cheapest mass moves first
fig = go.Figure(go.Scatter(x=sweep["rho"], y=sweep["cost per unit moved"], mode="lines+markers"))
fig.add_vline(x=rho, line_dash="dot", annotation_text="inliers' capacity")
fig.update_layout(template=viz.TEMPLATE, title="Average cost of the moved mass vs ρ", xaxis_title="ρ",
                  yaxis_title="⟨π, C⟩ / ρ", height=320)
fig

# %%
sweep.round(4)

# %% [markdown]
# ## 5. Two entropic formulations
#
# With an entropy term, there are two natural problems. **Dummy** (L2RM's): balanced entropic OT on the
# extended problem; its entropy also counts the dummy cells, and the corner is never exactly empty, so the
# real block carries ρ plus a sliver. **Bregman** (POT's `entropic_partial_wasserstein`): iterated KL
# projections onto the three constraints of Eq. 7, whose real block carries exactly ρ. They are *different
# problems* at finite ε and agree only in the limit ε → 0, where both tend to the exact plan.

# %%
rows = []
for eps in (0.1, 0.03, 0.01):
    plans = {form: partial_ot(torch.from_numpy(C), mass=rho, eps=eps, formulation=form, tol=1e-9,
                              max_iter=5000).plan.numpy() for form in ("dummy", "bregman")}
    rows.append({"eps": eps, "dummy: max |Δ| vs exact": np.abs(plans["dummy"] - partial.plan).max(),
                 "bregman: max |Δ| vs exact": np.abs(plans["bregman"] - partial.plan).max(),
                 "max |dummy − bregman|": np.abs(plans["dummy"] - plans["bregman"]).max()})
formulations = pd.DataFrame(rows)
assert formulations["bregman: max |Δ| vs exact"].is_monotonic_decreasing
assert formulations["dummy: max |Δ| vs exact"].is_monotonic_decreasing
formulations
