"""The MAP table from run directories, the grid's skip/resume logic, and ``workbench labels``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from workbench.cli import main
from workbench.labels.grid import cell_dir, label_grid, run_grid
from workbench.labels.table import collect_label_runs, map_table, summarise, write_tables
from workbench.runs import RunWriter


def _fake_run(root: Path, name: str, *, variant: str, noise: str, rate: float, seed: int, best: float,
              last: float, status: str = "done") -> None:
    summary = {"track": "labels", "dataset": "wikipedia", "method": variant.split("-")[0], "seed": seed,
               "noise": noise, "noise_rate": rate, "noise_level": "pair", "variant": variant}
    writer = RunWriter.create(root / name, config={}, summary=summary)
    m = lambda v: {"i2t": v + 0.01, "t2i": v - 0.01, "avg": v}  # noqa: E731
    writer.write_results({"map": {"best": m(best), "last": m(last)}, "best_epoch": 3,
                          "label": {"correction_accuracy": 0.5}})
    writer.finish(status)


@pytest.fixture
def table_root(tmp_path: Path) -> tuple[Path, dict]:
    rng = np.random.default_rng(1)
    values: dict = {}
    for variant in ("ce", "uot_rcl", "uot_rcl-no_ra"):
        for noise, rate in (("symmetric", 0.2), ("symmetric", 0.8), ("asymmetric", 0.4)):
            for seed in range(3):
                best, last = rng.uniform(0.1, 0.3, 2)
                values[(variant, noise, rate, seed)] = (best, last)
                _fake_run(tmp_path / variant, f"{noise}-{rate}-s{seed}", variant=variant, noise=noise, rate=rate,
                          seed=seed, best=best, last=last)
    _fake_run(tmp_path, "failed-one", variant="ce", noise="symmetric", rate=0.2, seed=9, best=1.0, last=1.0,
              status="failed")
    return tmp_path, values


def test_table_is_mean_and_sample_std_over_seeds(table_root: tuple[Path, dict]) -> None:
    root, values = table_root
    frame = collect_label_runs(root)
    assert len(frame) == 27  # the failed run is left out
    summary = summarise(frame)
    table = map_table(summary, "best_avg")
    assert list(table["method"]) == ["uot_rcl", "ce", "uot_rcl-no_ra"]  # UOT-RCL first, ablations last
    assert list(table.columns[1:]) == ["sym 0.2", "sym 0.8", "asym 0.4"]
    for variant, noise, rate, column in (("ce", "symmetric", 0.8, "sym 0.8"), ("uot_rcl", "asymmetric", 0.4,
                                                                                 "asym 0.4")):
        bests = [values[(variant, noise, rate, s)][0] for s in range(3)]
        cell = table.loc[table["method"] == variant, column].iloc[0]
        assert cell == f"{np.mean(bests):.3f} ± {np.std(bests, ddof=1):.3f}"
    lasts = [values[("uot_rcl-no_ra", "symmetric", 0.2, s)][1] for s in range(3)]
    row = summary[(summary["variant"] == "uot_rcl-no_ra") & (summary["column"] == "last_avg")
                  & (summary["rate"] == 0.2)].iloc[0]
    assert (row["mean"], row["std"], row["n"]) == pytest.approx((np.mean(lasts), np.std(lasts, ddof=1), 3))
    csv_path, md_path = write_tables(frame, root)
    assert csv_path.read_text().splitlines()[0] == "variant,dataset,noise,rate,column,mean,std,n"
    assert "| uot_rcl |" in md_path.read_text() and "last epoch" in md_path.read_text()


def test_cli_presets_train_table_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["labels", "presets", "--group", "tiny"]) == 0
    assert "tiny-uot_rcl" in capsys.readouterr().out
    assert main(["labels", "presets", "--ablations"]) == 0
    assert "no_ra" in capsys.readouterr().out
    code = main(["labels", "train", "--preset", "tiny-ce", "--run-root", str(tmp_path), "--no-progress",
                 "--set", "epochs=2", "--set", f"root={tmp_path / 'data'}"])
    run_dir = Path(capsys.readouterr().out.strip())
    assert code == 0 and json.loads((run_dir / "run.json").read_text())["status"] == "done"
    assert main(["labels", "table", str(tmp_path), "--write"]) == 0
    out = capsys.readouterr().out
    assert "| ce |" in out and (tmp_path / "table.md").exists()
    assert main(["labels", "train", "--preset", "tiny-sgd"]) == 2
    assert "unknown label-track preset 'tiny-sgd'" in capsys.readouterr().err
    assert main(["labels", "train", "--preset", "tiny-ce", "--set", "rate=2"]) == 2
    assert "rate = 2.0 must be <= 1.0" in capsys.readouterr().err
    assert main(["labels", "train", "--preset", "tiny-ce", "--ablation", "no_ra"]) == 2
    assert "ablation 'no_ra' applies to uot_rcl, not 'ce'" in capsys.readouterr().err
    assert main(["labels", "table", str(tmp_path / "nowhere")]) == 2
    assert "nowhere is not a directory" in capsys.readouterr().err


def test_grid_skips_done_runs_and_restarts_leftovers(tmp_path: Path) -> None:
    cells = label_grid(["ce"], [("symmetric", 0.4)], [0, 1], overrides={"epochs": 1, "root": str(tmp_path / "d")})
    first = run_grid(cells, preset_group="tiny", run_root=tmp_path / "grid", dataset="synthetic")
    assert len(first.done) == 2
    leftover = cell_dir(tmp_path / "grid", cells[1], "synthetic")
    (leftover / "run.json").write_text("{broken")  # a damaged run: restarted from scratch
    actions: list[str] = []
    second = run_grid(cells, preset_group="tiny", run_root=tmp_path / "grid", dataset="synthetic",
                      on_cell=lambda i, n, cell, action: actions.append(action))
    assert actions == ["skip", "run"] and second.skipped == [first.done[0]]
    assert json.loads((leftover / "run.json").read_text())["variant"] == "ce"


def test_label_correction_figure_draws_the_metric_records() -> None:
    from workbench.viz import label_correction

    records = [{"epoch": 0, "label": {"correction_accuracy": 0.4, "noisy_accuracy": 0.4, "selected_fraction": 0.0,
                                      "rho": None, "predicted_accuracy": 0.3}},
               {"epoch": 1, "label": {"correction_accuracy": 0.6, "noisy_accuracy": 0.4, "selected_fraction": 0.7,
                                      "rho": 0.6, "predicted_accuracy": 0.5}},
               {"epoch": 2, "label": None}]  # e.g. CCA: no label record
    traces = {t.name: t for t in label_correction(records).data}
    assert list(traces) == ["training-label accuracy", "noisy-label accuracy", "classifier accuracy",
                            "selected fraction", "ρ (transported mass)"]
    assert list(traces["training-label accuracy"].y) == [0.4, 0.6]
    assert list(traces["ρ (transported mass)"].x) == [0, 1]
