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
# # UOT-RCL — MAP vs label noise (the noisy-label track)
#
# Cross-modal retrieval with noisy **class labels**: UOT-RCL (partial-OT label correction with a
# cross-modal consistent cost, plus OT relation alignment; arXiv 2403.13480, reconstructed
# from its paper) against cross-entropy, GCE, MRL and CCA on the same features and networks.
# MAP over all results on the **clean** test set, image→text, text→image and their mean; the model is
# selected on the **noisy** validation set (best epoch), and the last epoch is reported too. Cells are
# mean ± sample std over seeds.
#
# The grid runs through `workbench.labels.run_grid`: each (method, noise, rate, seed) has its own run
# directory under `run_root`; finished runs are skipped and interrupted ones resumed, so re-executing the
# notebook only fills the gaps. The tables are written to `run_root/table.csv` and `run_root/table.md`.

# %% tags=["parameters"]
preset: str = "cpu"  # "cpu" (Wikipedia SIFT/LDA on 2 CPU cores), "paper" (MRL protocol, GPU) or "tiny" (smoke)
datasets: list = ["wikipedia"]  # any of wikipedia | mfeat | user | synthetic | wikipedia-vgg | nus-wide | xmedianet | ...
data_path: str = ""  # the data file of user / the papers' datasets (one dataset only); optional for wikipedia, mfeat
methods: list = ["uot_rcl", "ce", "gce", "mrl", "cca"]  # any of these
ceilings: list = ["corrected", "clean"]  # CE on UOT-RCL's corrected labels / on the clean labels (same network, budget)
rates: dict = {"symmetric": [0.0, 0.2, 0.4, 0.6, 0.8], "asymmetric": [0.4]}  # noise type -> noise rates
seeds: list = [0, 1, 2]  # one run per seed (the seed also draws the noise and the validation split)
ablations: list = []  # UOT-RCL ablations, e.g. ["no_ra", "cost_knn"] (`workbench labels presets --ablations`)
ablation_rates: dict = {"symmetric": [0.6, 0.8]}  # the settings the ablations run at
epochs: int = 0  # training epochs; 0 keeps the preset's (cpu: 40)
level: str = "pair"  # "pair" (one noisy label per pair) or "modality" (MRL: independent image / text labels)
overrides: list = []  # extra settings for every run, strings in the --set syntax of `workbench labels train`
run_root: str = "runs/uot_table"  # root of the grid's run directories and of table.csv / table.md

# %%
from pathlib import Path

import pandas as pd
from IPython.display import Markdown, display

from workbench import runs, viz
from workbench.configbase import parse_assignment
from workbench.labels.grid import cell_dir, label_grid, run_grid
from workbench.labels.table import collect_label_runs, map_table, summarise, write_tables

extra: dict = dict(parse_assignment(item) for item in overrides)
extra["level"] = level
if epochs:
    extra["epochs"] = epochs
if data_path:
    if len(datasets) != 1:
        raise ValueError(f"data_path names one dataset's file; got datasets={datasets}")
    extra["data.path"] = data_path
settings = [(noise, rate) for noise, values in rates.items() for rate in values]
ceilings = [c for c in ceilings if c != "corrected" or "uot_rcl" in methods]  # 'corrected' needs UOT-RCL's runs
cells = label_grid(methods, settings, seeds, ceilings=ceilings, overrides=extra)
cells += label_grid([], [(n, r) for n, values in ablation_rates.items() for r in values], seeds,
                    ablations=ablations, overrides=extra)
print(f"{len(cells)} runs per dataset, {len(datasets)} dataset(s), under {run_root}")

# %% [markdown]
# ## Run the grid (finished runs are skipped)

# %%
def announce(index: int, total: int, cell, action: str) -> None:
    if action != "skip":
        print(f"[{index + 1}/{total}] {action:<6} {cell.variant:<22} {cell.noise} {cell.rate:g} seed {cell.seed}",
              flush=True)


for dataset in datasets:
    print(f"--- {dataset}")
    report = run_grid(cells, preset_group=preset, run_root=run_root, dataset=dataset, on_cell=announce)
    print(f"ran {len(report.done)}, resumed {len(report.resumed)}, skipped {len(report.skipped)} (already done)")

# %% [markdown]
# ## The MAP table

# %%
grid_ids = {cell_dir(run_root, cell, dataset).relative_to(run_root).as_posix() for cell in cells
            for dataset in datasets}
frame = collect_label_runs(run_root)
frame = frame[frame["run_id"].isin(grid_ids)]  # this grid's runs only, whatever else run_root holds
csv_path, md_path = write_tables(frame, run_root)
summary = summarise(frame)
print(f"wrote {csv_path} and {md_path}")
for column, title in (("best_avg", "Average MAP — best epoch (noisy validation)"), ("last_avg", "Average MAP — last epoch"),
                      ("best_i2t", "Image→text MAP — best epoch"), ("best_t2i", "Text→image MAP — best epoch")):
    display(Markdown(f"**{title}**"))
    display(map_table(summary, column))

# %% [markdown]
# ## MAP vs noise rate (mean ± std over seeds)

# %%
def curves(column: str, dataset: str) -> pd.DataFrame:
    part = summary[(summary["column"] == column) & (summary["dataset"] == dataset)].rename(columns={"variant": "method"})
    return part[["method", "noise", "rate", "mean", "std", "n"]]


for dataset in datasets:
    for column, title in (("best_avg", "Best-epoch average MAP vs label noise"),
                          ("last_avg", "Last-epoch average MAP vs label noise")):
        display(viz.map_by_rate(curves(column, dataset), title=f"{title} — {dataset}"))

# %% [markdown]
# ## Label correction of UOT-RCL at the highest symmetric rate (first seed)
#
# The accuracy of the labels UOT-RCL trains on, by epoch, against the clean training labels, and the
# confusion of its final corrected labels beside the confusion of the given noisy labels.

# %%
uot = frame[(frame["variant"] == "uot_rcl") & (frame["noise"] == "symmetric")].sort_values(["rate", "seed"],
                                                                                         ascending=[False, True])
if len(uot):
    run_id = uot["run_id"].iloc[0]
    record = runs.read_run(Path(run_root), run_id)
    display(viz.label_correction(record.metrics, title=f"Label correction — {run_id}"))
    arrays = runs.read_arrays(Path(run_root), run_id, "label_confusion.npz")
    display(viz.label_confusion(arrays["confusion"], [str(c) for c in arrays["class_names"]],
                                noisy_confusion=arrays["noisy_confusion"]))
else:
    print("no UOT-RCL run with symmetric noise in this grid")

# %% [markdown]
# ## Per-run values

# %%
frame.drop(columns=["run_id"]).round(4)
