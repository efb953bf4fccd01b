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
# # Figure 7 — the ranked refined alignment of transported and untransported rows
#
# The partial plan moves only ρ of the mass, so some rows of a batch (images) are *transported* — they get
# real mass — and the others are not. Fig. 7 (MS-COCO, MRate 0.4) sorts each row's normalised refined
# alignment in descending order and averages over rows of each kind. Transported rows concentrate on one
# dominant target (a rematch); untransported rows are close to uniform, i.e. the target is label smoothing
# (Eq. 15) rather than a rematch. The run records these averages per epoch (`refined_ranks.parquet`).
#
# The notebook analyses one L2RM run: `source_run` when given (nothing is trained), otherwise it trains
# this setting into `run_dir` first.
#
# `workbench reproduce fig7` injects each setting's parameters, e.g.
# `overrides = ["mrate=0.4"]`;
# run with the defaults, the notebook trains the preset unchanged.

# %% tags=["parameters"]
preset: str = "cpu-l2rm-vse"  # preset name (see `workbench presets`)
overrides: list = []  # training overrides, one key-value string each (mrate, seed, epochs, ...)
run_dir: str = "runs/fig7/example"  # where this notebook's figures go (and the run, when it trains one)
preset_kind: str = "cpu"  # "cpu" (synthetic set) or "paper"
labels: dict = {}  # the setting's labels (mrate)
source_run: str = ""  # an existing L2RM run directory to analyse; empty: train the setting into run_dir

# %%
from workbench import viz
from workbench.callbacks import EpochPrinter
from workbench.reproduce import analysed_run, views
from workbench.runs import read_metrics

analysed = analysed_run(source_run, preset, overrides, run_dir, callbacks=[EpochPrinter()])
ranks = views.artifact_table(analysed, "refined_ranks.parquet")

# %% [markdown]
# ## The averaged ranked distributions (last epoch)
#
# The dotted line is the uniform level `1/B`.

# %%
ranked = viz.refined_ranks(ranks)
views.save_figure(run_dir, "refined_ranks", ranked)
ranked

# %% [markdown]
# ## How peaked, in numbers
#
# `tv_to_uniform` is the total-variation distance `½ Σ_r |p_r − 1/B|` to the uniform distribution: 0 for
# pure label smoothing, close to 1 for a one-hot target.

# %%
views.rank_summary(ranks)

# %% [markdown]
# ## By epoch: how peaked the rows are, and the scale that decides it
#
# Over every rematched batch of an epoch (not one saved batch): the mean top-1 of transported and of
# untransported rows beside a uniform row's `1/B`, and the cost's inter-quartile range within a batch beside
# the entropic scale λ. When the cost varies by much less than λ, `exp(-C/λ)` is nearly constant and the
# plan is close to uniform whatever the cost ranks; a peaked plan is only useful where its argmax is right
# (the Rematches page and Fig. 5 measure that against the truth).

# %%
records = read_metrics(analysed)
concentration = viz.rematch_concentration(records, lam=views.run_summary(analysed).get("lam"))
views.save_figure(run_dir, "rematch_concentration", concentration)
last = [r["rematch"] for r in records if r.get("rematch")][-1]
print({k: round(v, 4) for k, v in last.items() if k.startswith(("top1", "entropy", "cost_"))})
concentration

# %% [markdown]
# ## One saved batch: plan, mask and cost
#
# Rows are the batch's images, columns its captions; the dummy row and column hold the untransported mass
# `1 − ρ`. Circles mark captions that truly fit the image.

# %%
heatmaps = viz.alignment_heatmaps(views.alignment_batch(analysed), rows=48, cols=48)
views.save_figure(run_dir, "alignment_heatmaps", heatmaps)
heatmaps
