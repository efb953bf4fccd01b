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
# # Figure 5 — rematched pairs
#
# Fig. 5 shows real rematches of L2RM-SGR on CC152K's training set: an image, its original (mismatched)
# caption, and the caption the refined alignment points to, with its score — the row-normalised plan
# `π̃ᵢⱼ / Σⱼ' π̃ᵢⱼ'` at the argmax, in brackets in the paper. Some rematches describe the image well, others
# only share local details (and get lower scores). The paper gives no counts; on the synthetic set the scene
# truth can *check* every rematch: `fit` says whether the rematched caption truly describes the image.
#
# The notebook analyses one L2RM run: `source_run` when given (nothing is trained), otherwise it trains
# this setting into `run_dir` first.
#
# `workbench reproduce fig5` injects each setting's parameters, e.g.
# `overrides = ["mrate=0.6"]`;
# run with the defaults, the notebook trains the preset unchanged.

# %% tags=["parameters"]
preset: str = "cpu-l2rm-vse"  # preset name (see `workbench presets`)
overrides: list = []  # training overrides, one key-value string each (mrate, seed, epochs, ...)
run_dir: str = "runs/fig5/example"  # where this notebook's figures go (and the run, when it trains one)
preset_kind: str = "cpu"  # "cpu" (synthetic set) or "paper"
labels: dict = {}  # the setting's labels (mrate)
source_run: str = ""  # an existing L2RM run directory to analyse; empty: train the setting into run_dir

# %%
from workbench import viz
from workbench.callbacks import EpochPrinter
from workbench.reproduce import analysed_run, views
from workbench.runs import read_metrics

analysed = analysed_run(source_run, preset, overrides, run_dir, callbacks=[EpochPrinter()])
examples = views.artifact_table(analysed, "rematch_examples.parquet")
epochs = sorted(examples["epoch"].unique().tolist())
print(f"{analysed}: {len(examples)} rematched pairs saved at epochs {epochs}")

# %% [markdown]
# ## The highest-scoring rematches of the last epoch
#
# `transported` marks rows to which the partial plan gave real mass (the others rematch by the clipped,
# near-uniform remainder); `original_fit` is whether the original caption fit — False for a mismatched pair.

# %%
views.rematch_table(examples, top=20)

# %% [markdown]
# ## Do high scores mean good rematches?
#
# Scores of every saved rematch of the last epoch, split by whether the rematched caption truly fits.

# %%
last = examples[examples["epoch"] == examples["epoch"].max()]
scores = viz.rematch_scores(last)
views.save_figure(run_dir, "rematch_scores", scores)
scores

# %% [markdown]
# ## Rematch precision by epoch
#
# The fraction of rematched targets that truly fit, against the chance level of picking a fitting caption
# at random from the batch (`metrics.jsonl`, field `rematch`).

# %%
quality = viz.rematch_quality(read_metrics(analysed))
views.save_figure(run_dir, "rematch_quality", quality)
quality
