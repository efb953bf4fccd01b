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
# # Figure 6 — the learned transport cost of matched and mismatched pairs
#
# Fig. 6 (Flickr30K, MRate 0.8) plots the distribution of the learned cost `f_c(S)` of every training pair
# at several training phases, for truly matched and mismatched pairs. The cost first learns to put the
# mismatched pairs high; the matched pairs' costs start widely spread and move towards 0 as training goes on.
# The run records that cost for every pair after each split (`cost_by_epoch.parquet`), with the true and the
# estimated matched flags. The paper shows curves only; the numbers below (medians, AUC) are ours.
#
# The notebook analyses one L2RM run: `source_run` when given (nothing is trained), otherwise it trains
# this setting into `run_dir` first.
#
# `workbench reproduce fig6` injects each setting's parameters, e.g.
# `overrides = ["mrate=0.8"]`;
# run with the defaults, the notebook trains the preset unchanged.

# %% tags=["parameters"]
preset: str = "cpu-l2rm-vse"  # preset name (see `workbench presets`)
overrides: list = []  # training overrides, one key-value string each (mrate, seed, epochs, ...)
run_dir: str = "runs/fig6/example"  # where this notebook's figures go (and the run, when it trains one)
preset_kind: str = "cpu"  # "cpu" (synthetic set) or "paper"
labels: dict = {}  # the setting's labels (mrate)
source_run: str = ""  # an existing L2RM run directory to analyse; empty: train the setting into run_dir

# %%
from workbench import viz
from workbench.callbacks import EpochPrinter
from workbench.reproduce import analysed_run, views

analysed = analysed_run(source_run, preset, overrides, run_dir, callbacks=[EpochPrinter()])
costs = views.artifact_table(analysed, "cost_by_epoch.parquet")
epochs = sorted(int(e) for e in costs["epoch"].unique())
print(f"{analysed}: the cost of {costs['caption'].nunique()} pairs at epochs {epochs}")

# %% [markdown]
# ## Separation by epoch
#
# `auc` is the probability that a random matched pair costs less than a random mismatched one (1: perfect
# separation, 0.5: none).

# %%
views.cost_separation(costs)

# %% [markdown]
# ## The distributions at the first and the last recorded epoch
#
# Each group is normalised to unit area, so a small group (matched pairs at MRate 0.8) is as visible as a
# large one.

# %%
figures = {}
for epoch in sorted({epochs[0], epochs[-1]}):
    figures[f"cost_histogram_epoch_{epoch:03d}"] = viz.cost_histogram(costs, epoch=epoch)
for name, fig in figures.items():
    views.save_figure(run_dir, name, fig)
    fig.show()

# %% [markdown]
# ## Over training: median and inter-quartile band

# %%
trend = viz.cost_trend(costs)
views.save_figure(run_dir, "cost_trend", trend)
trend

# %% [markdown]
# ## What the split sees
#
# The same costs grouped by the *estimated* flags of the beta-mixture split (what L2RM acts on) instead of
# the truth.

# %%
estimate = viz.cost_histogram(costs, split="estimate", epoch=epochs[-1])
views.save_figure(run_dir, "cost_histogram_estimate", estimate)
estimate
