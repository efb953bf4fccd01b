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
# # Tables 1 and 6 — retrieval under mismatched pairs (MRate 0.2–0.8)
#
# One setting of the grid: a method trained at one mismatching rate, its test R@K beside the paper's row.
# `workbench reproduce table1 --preset cpu|paper` runs the whole grid and collects `table.csv`.
# Table 5 (the epoch settings) is printed at the end, as the presets carry it.

# %% tags=["parameters"]
preset: str = "cpu-l2rm-vse"  # preset name (`workbench presets`)
overrides: list = []  # training overrides, one key-value string each (mrate, seed, epochs, ...)
run_dir: str = "runs/table1/example"  # the run directory (resumed or reused when present)
preset_kind: str = "cpu"  # "cpu" (synthetic set) or "paper"
labels: dict = {}  # the setting's labels: method, backbone, mrate, seed, dataset
source_run: str = ""  # unused here (figure notebooks analyse an existing run)

# %%
from workbench.callbacks import EpochPrinter
from workbench.reproduce import run_setting, views

result = run_setting(preset, overrides, run_dir, callbacks=[EpochPrinter()])

# %% [markdown]
# ## Test R@K beside the paper

# %%
views.retrieval_comparison(run_dir, preset_kind)

# %%
views.training_curves(run_dir)

# %% [markdown]
# ## Table 5 — epoch settings (warm-up + training, lr decay) as the presets carry them

# %%
views.epoch_settings()
