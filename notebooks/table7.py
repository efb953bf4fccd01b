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
# # Table 7 — the original data (MRate 0)
#
# Flickr30K and MS-COCO as released are well matched (almost 0 % mismatch). Table 7 shows that L2RM does
# not cost accuracy there and even helps a little (e.g. L2RM-SGR 501.5 vs SGR 488.8 rSum on Flickr30K):
# rematching unpaired samples augments the positives. At MRate 0 the paper disables the positives mask
# (Appendix D.1), which the presets do (`l2rm.mask_positives=auto`). This notebook trains one setting;
# `workbench reproduce table7 --preset cpu|paper` runs the grid and collects `table.csv`.
#
# On the synthetic set the paper's recipe does cost accuracy at MRate 0: the beta mixture is fitted to a
# one-mode loss distribution and still calls many clean pairs noisy (81 % in one epoch of this run), which are then
# only rematched. Measured (CPU preset, seed 0, test rSum): vanilla 465.2, L2RM 383.6, L2RM with
# `--set l2rm.split_guard=true` (keep everything clean while the mixture density has one mode; not in the
# paper) 467.6.
#
# `workbench reproduce table7` injects each setting's parameters, e.g.
# `overrides = ["mrate=0", "seed=0"]`;
# run with the defaults, the notebook trains the preset unchanged.

# %% tags=["parameters"]
preset: str = "cpu-l2rm-vse"  # preset name (see `workbench presets`)
overrides: list = []  # training overrides, one key-value string each (mrate, seed, epochs, ...)
run_dir: str = "runs/table7/example"  # the run directory (resumed or reused when present)
preset_kind: str = "cpu"  # "cpu" (synthetic set) or "paper"
labels: dict = {}  # the setting's labels: method, backbone, mrate, seed, dataset
source_run: str = ""  # unused here (figure notebooks analyse an existing run)

# %%
from workbench.callbacks import EpochPrinter
from workbench.reproduce import run_setting, views

result = run_setting(preset, overrides, run_dir, callbacks=[EpochPrinter()])

# %% [markdown]
# ## Test R@K beside the paper's MRate-0 row

# %%
comparison = views.retrieval_comparison(run_dir, preset_kind)
comparison

# %%
fig = views.recall_bars(comparison)
views.save_figure(run_dir, "recall_vs_paper", fig)
fig

# %%
curves = views.training_curves(run_dir)
views.save_figure(run_dir, "val_curves", curves)
curves
