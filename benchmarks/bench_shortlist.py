"""Shortlist re-ranking vs exhaustive evaluation of a pairwise head on `synthetic medium`.

Trains a small SGR model on synthetic medium for one short run (cached under benchmarks/out/), then
evaluates the test split (1000 images x 5000 captions) exhaustively and with shortlists of k = 20, 50, 100
candidates per query, taken from the SGR model's own mean-pooled embeddings ("own") and from a VSE model
trained on the same data for as long ("vse"; also cached). Prints one JSON line per mode (R@K, rSum, seconds,
speed-up and rSum difference against exhaustive) and appends a row to benchmarks/BENCHMARKS.md.

    python benchmarks/bench_shortlist.py [--epochs 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from workbench.bench import append_table_row, machine
from workbench.data.dataset import load_retrieval_data
from workbench.ensemble import load_run_models
from workbench.presets import get_preset
from workbench.scoring import evaluate_split
from workbench.train import run

OUT = Path(__file__).resolve().parent / "out"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ks", type=int, nargs="+", default=[20, 50, 100])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = get_preset("cpu-vanilla-sgr").config().override(
        {"size": "medium", "warmup_epochs": 1, "epochs": args.epochs, "val_images": 200, "threads": args.threads,
         "root": str(OUT / "data")})
    run_dir = OUT / f"shortlist-sgr-medium-e{args.epochs}"
    if not (run_dir / "results.json").exists():
        run(cfg, run_dir=run_dir)
    vse_cfg = cfg.override({"backbone": "vse"})
    vse_dir = OUT / f"shortlist-vse-medium-e{args.epochs}"
    if not (vse_dir / "results.json").exists():
        run(vse_cfg, run_dir=vse_dir)
    data = load_retrieval_data(cfg.data)
    models = load_run_models(run_dir, data, torch.device("cpu"))
    sources = {"own": (), "vse": load_run_models(vse_dir, data, torch.device("cpu"))}
    t0 = time.perf_counter()
    exhaustive = evaluate_split(models, data.test, torch.device("cpu"))["all"]
    t_ex = time.perf_counter() - t0
    rows = [{"mode": "exhaustive", "seconds": round(t_ex, 2), **exhaustive.as_dict()}]
    for source, shortlisters in sources.items():
        for k in args.ks:
            t0 = time.perf_counter()
            short = evaluate_split(models, data.test, torch.device("cpu"), mode="shortlist", shortlist_k=k,
                                   shortlist_models=shortlisters)["all"]
            dt = time.perf_counter() - t0
            rows.append({"mode": f"shortlist k={k} ({source})", "seconds": round(dt, 2),
                         "speedup": round(t_ex / dt, 2), "rsum_diff": round(short.rsum - exhaustive.rsum, 2),
                         **short.as_dict()})
    for row in rows:
        print(json.dumps(row))
    header = ["date", "machine", "mode", "seconds", "speed-up", "rSum", "rSum - exhaustive", "R@1 i2t / t2i"]
    for r in rows:
        append_table_row(Path(__file__).resolve().parent / "BENCHMARKS.md",
                         "## Shortlist re-ranking on synthetic medium (`benchmarks/bench_shortlist.py`)", header,
                         [time.strftime("%Y-%m-%d"), machine(), r["mode"], str(r["seconds"]), str(r.get("speedup", 1.0)),
                          f"{r['rsum']:.1f}", f"{r.get('rsum_diff', 0.0):+.1f}", f"{r['i2t_r1']:.1f} / {r['t2i_r1']:.1f}"])


if __name__ == "__main__":
    main()
