"""What the reproduction notebooks display: one run's numbers beside the paper, and its curves.

Thin functions returning DataFrames or plotly figures, so the notebooks stay a few lines each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from workbench import reference, viz
from workbench.runs import read_metrics, read_results

__all__ = ["retrieval_comparison", "training_curves", "epoch_settings", "run_summary"]


def run_summary(run_dir: str | Path) -> dict[str, Any]:
    import json

    return json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))


def retrieval_comparison(run_dir: str | Path, kind: str = "cpu", *, key: str = "test",
                         protocol: str = "1k") -> pd.DataFrame:
    """Our test R@K, the paper's row and the difference (rows: ours / paper / delta).

    For runs on the synthetic set the paper's Flickr30K row of the same method (SGR backbone) is shown for
    orientation; the data differ, so compare trends rather than values.
    """
    info = run_summary(run_dir)
    results = read_results(Path(run_dir)) or {}
    ours = {k: results.get(key, {}).get(k) for k in reference.RK_COLUMNS}
    if kind == "paper":
        paper = reference.lookup(info.get("dataset"), info.get("mrate"), info.get("method"), info.get("backbone"),
                                 protocol=protocol)
        label = paper.method if paper else "—"
    else:
        paper = reference.lookup("f30k", info.get("mrate"), info.get("method"), "sgr")
        label = f"{paper.method} on Flickr30K (orientation)" if paper else "—"
    rows = [{"source": f"ours ({info.get('method')}-{info.get('backbone')}, {info.get('dataset')}, "
                       f"MRate {info.get('mrate')})", **ours}]
    if paper:
        rows.append({"source": f"paper: {label}", **dict(paper.metrics)})
        rows.append({"source": "Δ ours − paper",
                     **{k: (ours[k] - paper.metrics[k]) if ours[k] is not None else None for k in ours}})
    return pd.DataFrame(rows).set_index("source").round(1)


def training_curves(run_dir: str | Path) -> Any:
    """Validation rSum by epoch (and split quality when the method has a split)."""
    records = read_metrics(Path(run_dir))
    return viz.val_curves({Path(run_dir).name: records})


def epoch_settings() -> pd.DataFrame:
    """Table 5 of the paper beside the epochs of our L2RM paper presets."""
    from workbench.presets import get_preset

    paper = reference.load_table("epochs").set_index("dataset")
    rows = []
    for dataset, preset in (("flickr30k", "f30k-l2rm-sgr-0.2"), ("coco", "coco-l2rm-sgr-0.2"),
                            ("cc152k", "cc152k-l2rm-sgr")):
        cfg = get_preset(preset).config()
        rows.append({"dataset": dataset, "warm-up (paper)": paper.loc[dataset, "warmup_epochs"],
                     "warm-up (preset)": cfg.optim.warmup_epochs,
                     "training (paper)": paper.loc[dataset, "training_epochs"],
                     "training (preset)": cfg.optim.epochs,
                     "lr update (paper)": paper.loc[dataset, "lr_update_epoch"],
                     "lr update (preset)": cfg.optim.lr_update})
    return pd.DataFrame(rows).set_index("dataset")
