"""``workbench score RUN_DIR --inputs FILE.npz --out OUT.npy``: a run's scores of given inputs."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    sc = sub.add_parser("score", help="score given images and captions with a finished or imported run",
                        description="Write the [N, M] score matrix of the images and captions in FILE.npz "
                        "(images [N, R, D] float32, captions [M, L] int64 word ids 0-padded, lengths [M]) with "
                        "the run's best models, as the run ranks them (sigmoid scores for SAF/SGR).")
    sc.add_argument("run_dir", metavar="RUN_DIR")
    sc.add_argument("--inputs", required=True, metavar="FILE.npz")
    sc.add_argument("--out", required=True, metavar="OUT.npy")
    sc.add_argument("--device", choices=("auto", "cpu", "cuda"),
                    help="where to compute (default: the run's configured device)")
    sc.set_defaults(func=_score)


def _score(args: argparse.Namespace) -> int:
    import io
    from pathlib import Path

    import numpy as np

    from workbench.run_models import load_run_models, run_config
    from workbench.runs import atomic_write_bytes
    from workbench.score_inputs import read_score_inputs, score_matrix
    from workbench.scoring import combination
    from workbench.train import resolve_device

    cfg = run_config(args.run_dir)
    device = resolve_device(args.device or cfg.device)
    inputs = read_score_inputs(args.inputs)
    scores = score_matrix(load_run_models(args.run_dir, None, device), inputs, device, combination(cfg))
    buffer = io.BytesIO()
    np.save(buffer, scores)
    atomic_write_bytes(Path(args.out), buffer.getvalue())
    print(args.out)
    return 0
