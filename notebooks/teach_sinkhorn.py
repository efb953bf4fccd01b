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
# # Optimal transport and the Sinkhorn algorithm, from first principles
#
# L2RM builds its rematching targets by *optimal transport* (OT): given two sets of points with masses, find
# the cheapest way to move one set's mass onto the other's. This notebook works it out on two small point
# clouds: the linear programme, its entropic relaxation, the Sinkhorn iterations written out in numpy, the
# same with `workbench.ot.sinkhorn`, and what the regularisation ε does to the plan.

# %% tags=["parameters"]
n_points: int = 12  # points per cloud
threads: int = 1  # torch threads (small problems: more threads only add overhead)
seed: int = 0  # seed of the point clouds

# %%
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from workbench import teaching, viz
from workbench.ot import sinkhorn

torch.set_num_threads(threads)

rng = np.random.default_rng(seed)
x = rng.normal(size=(n_points, 2))  # source cloud
y = rng.normal(size=(n_points, 2)) * 0.6 + np.array([3.0, 1.0])  # target cloud, shifted and tighter
a = np.full(n_points, 1.0 / n_points)  # masses of the source points
b = np.full(n_points, 1.0 / n_points)  # masses of the target points
C = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)  # squared distances [n, m]
C = C / C.max()  # costs in [0, 1], so that eps is on a known scale

# %% [markdown]
# ## 1. The linear programme (Kantorovich; L2RM Eq. 1)
#
# A *plan* $\pi \in \mathbb{R}_+^{n\times m}$ says how much mass goes from $x_i$ to $y_j$. It must take all
# of each source point's mass and deliver all of each target's:
#
# $$\mathrm{OT}(a, b) = \min_{\pi \ge 0} \langle \pi, C\rangle_F \quad \text{s.t.}\quad \pi 1_m = a,\;
# \pi^\top 1_n = b .$$
#
# This is a linear programme with $nm$ unknowns and $n + m$ equality constraints. With uniform masses and
# $n = m$ its optimum is a vertex of the set of doubly stochastic matrices, i.e. (Birkhoff) a *permutation*:
# every point is sent whole to one partner.

# %%
lp = teaching.exact_ot(C, a, b)
print(f"OT cost {lp.value:.4f}; entries of n * plan: {np.unique(np.round(lp.plan * n_points, 9))}")
assert np.allclose(lp.plan * n_points, np.round(lp.plan * n_points), atol=1e-9)  # a permutation matrix / n

fig = go.Figure()
for i, j in zip(*np.nonzero(lp.plan > 1e-12), strict=True):
    fig.add_trace(go.Scatter(x=[x[i, 0], y[j, 0]], y=[x[i, 1], y[j, 1]], mode="lines",
                             line=dict(color="#999999", width=1), showlegend=False, hoverinfo="skip"))
fig.add_trace(go.Scatter(x=x[:, 0], y=x[:, 1], mode="markers", name="source x", marker_size=10))
fig.add_trace(go.Scatter(x=y[:, 0], y=y[:, 1], mode="markers", name="target y", marker_size=10))
fig.update_layout(template=viz.TEMPLATE, title="The optimal plan of the LP: a matching", height=420,
                  yaxis_scaleanchor="x")
fig

# %% [markdown]
# ## 2. The entropic problem
#
# Cuturi (2013) adds an entropy term, with $H(\pi) = -\sum_{ij} \pi_{ij}(\log \pi_{ij} - 1)$:
#
# $$\min_{\pi \ge 0} \langle \pi, C\rangle - \varepsilon H(\pi) \quad \text{s.t.}\quad \pi 1_m = a,\;
# \pi^\top 1_n = b .$$
#
# The objective is now strictly convex, and setting the gradient of the Lagrangian to zero gives the form of
# the solution: $\pi_{ij} = u_i K_{ij} v_j$ with the *kernel* $K = e^{-C/\varepsilon}$ and two positive
# scaling vectors $u, v$. Only $u$ and $v$ are unknown, and each marginal constraint fixes one of them given
# the other:
#
# $$u \leftarrow a \oslash (K v), \qquad v \leftarrow b \oslash (K^\top u).$$
#
# Alternating the two is **Sinkhorn's algorithm**. After a $v$ update the column sums are exact; the row
# sums' error $\|\pi 1_m - a\|_1$ measures convergence, which is linear (geometric).

# %%
def sinkhorn_numpy(C, a, b, eps, n_iter):
    """The textbook iterations (kernel domain), returning the plan and the row error after each."""
    K = np.exp(-C / eps)
    v = np.ones_like(b)
    errors = []
    for _ in range(n_iter):
        u = a / (K @ v)
        v = b / (K.T @ u)
        plan = u[:, None] * K * v[None, :]
        errors.append(np.abs(plan.sum(1) - a).sum())
    return plan, np.array(errors)


eps = 0.05
plan_np, errors = sinkhorn_numpy(C, a, b, eps, 300)
fig = go.Figure(go.Scatter(y=errors, mode="lines"))
fig.update_layout(template=viz.TEMPLATE, title=f"Sinkhorn converges linearly (eps = {eps})",
                  xaxis_title="iteration", yaxis_title="row-marginal error ‖π1 − a‖₁", yaxis_type="log",
                  height=320)
fig

# %% [markdown]
# ## 3. The same with `workbench.ot.sinkhorn`
#
# The library solves the same problem, batched and in the *log domain*: it iterates the potentials
# $f = \varepsilon \log u$, $g = \varepsilon \log v$ with log-sum-exp instead of $u, v$, and stops on a real
# tolerance of the marginal error.

# %%
res = sinkhorn(torch.from_numpy(C), torch.from_numpy(a), torch.from_numpy(b), eps=eps, tol=1e-12,
               max_iter=5000)
print(f"converged={res.converged} after {res.n_iter} iterations; "
      f"max |plan_numpy - plan_library| = {np.abs(res.plan.numpy() - plan_np).max():.2e}")
assert res.converged and np.allclose(res.plan.numpy(), plan_np, atol=1e-10)

# %% [markdown]
# Why the log domain: $K_{ij} = e^{-C_{ij}/\varepsilon}$ underflows to 0 once $C_{ij}/\varepsilon \gtrsim 745$
# in float64 (≈ 103 in float32). Adding a constant $c$ to every cost does not change the optimal plan (every
# feasible plan moves the same total mass, so $\langle \pi, C + c\rangle = \langle \pi, C\rangle + c$), but
# with $c = 40$ every entry of $K$ underflows, $Kv = 0$, and the kernel iterations divide 0 by 0. The log
# domain absorbs the constant into the potentials and returns the same plan as before.

# %%
shifted = C + 40.0
with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
    broken, _ = sinkhorn_numpy(shifted, a, b, eps, 50)
stable = sinkhorn(torch.from_numpy(shifted), torch.from_numpy(a), torch.from_numpy(b), eps=eps, tol=1e-12)
print(f"numpy kernel iterations: {np.isnan(broken).sum()} NaN entries of {broken.size}")
print(f"library (log domain): converged={stable.converged}, "
      f"max |plan(C + 40) - plan(C)| = {np.abs(stable.plan.numpy() - res.plan.numpy()).max():.1e}")
assert np.isnan(broken).all() and np.allclose(stable.plan.numpy(), res.plan.numpy(), atol=1e-10)

# %% [markdown]
# ## 4. What ε does to the plan
#
# Large ε: the entropy wins and the plan spreads towards the independent coupling $a b^\top$ (everyone
# sends a little to everyone). Small ε: the plan sharpens towards the LP's matching and its cost
# $\langle \pi, C\rangle$ approaches $\mathrm{OT}(a, b)$. L2RM's λ is this ε (0.01–0.07 on costs in
# $[0, 1]$), so its refined alignments are sharp but not one-hot.

# %%
eps_values = [1.0, 0.1, 0.01]
plans = {e: sinkhorn(torch.from_numpy(C), torch.from_numpy(a), torch.from_numpy(b), eps=e, tol=1e-10,
                     max_iter=20000).plan.numpy() for e in eps_values}
fig = make_subplots(rows=1, cols=len(eps_values), subplot_titles=[f"ε = {e:g}" for e in eps_values])
for k, e in enumerate(eps_values, start=1):
    fig.add_trace(go.Heatmap(z=plans[e] * n_points, coloraxis="coloraxis"), row=1, col=k)
    fig.update_yaxes(autorange="reversed", row=1, col=k)
fig.update_layout(template=viz.TEMPLATE, coloraxis=dict(colorscale="Blues", cmin=0, cmax=1,
                                                        colorbar_title="n · π"),
                  title="Entropic plans (rows: source points, columns: target points)", height=360)
fig

# %%
def entropy(p):
    q = p[p > 0]
    return float(-(q * (np.log(q) - 1)).sum())


summary = pd.DataFrame([{"eps": e, "<π, C>": float((plans[e] * C).sum()),
                         "excess over the LP (%)": 100 * float((plans[e] * C).sum() - lp.value) / lp.value,
                         "H(π)": entropy(plans[e]), "largest entry · n": float(plans[e].max() * n_points)}
                        for e in eps_values])
assert summary["excess over the LP (%)"].is_monotonic_decreasing  # the plan's cost tends to the LP's
summary.round(4)
