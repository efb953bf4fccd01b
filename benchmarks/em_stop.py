"""How much the split's beta-mixture EM depends on its stopping rule (not a timed test).

For known two-beta mixtures of N per-sample losses, fits the mixture with the official rule (total
log-likelihood gain < 0.1) and with the mean rule (mean gain < 1e-4, <= 100 iterations), solves the EM fixed
point independently (scipy root of T(theta) = theta, as in tests/test_mixture_reference.py), and prints the
iterations, the clean fraction of each, and the fraction of clean/noisy decisions that differ.

    OMP_NUM_THREADS=1 python benchmarks/em_stop.py --n 145000 --noise 0.2 0.6 0.8
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_mixture_reference import _decisions, _fixed_point, _theta  # noqa: E402

from workbench.mixture import fit_beta_mixture  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=145_000)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.2, 0.6, 0.8])
    parser.add_argument("--clean", type=float, nargs=2, default=[2.0, 7.0], help="Beta(a, b) of clean losses")
    parser.add_argument("--noisy", type=float, nargs=2, default=[5.0, 3.0], help="Beta(a, b) of mismatched losses")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    print("| noise | iters official / mean | s official / mean | clean frac fixed point / official / mean "
          "| decisions differing: mean vs official, official vs fixed point, mean vs fixed point |")
    print("| --- | --- | --- | --- | --- |")
    for noise in args.noise:
        noisy = rng.random(args.n) < noise
        x = np.clip(np.where(noisy, rng.beta(*args.noisy, args.n), rng.beta(*args.clean, args.n)), 1e-3, 1 - 1e-3)
        t0 = time.perf_counter()
        off = fit_beta_mixture(x, stop="official")
        t1 = time.perf_counter()
        fast = fit_beta_mixture(x, stop="mean")
        t2 = time.perf_counter()
        ref = _decisions(_fixed_point(x, _theta(off)), x)
        d_off, d_fast = _decisions(_theta(off), x), _decisions(_theta(fast), x)
        print(f"| {noise:g} | {off.n_iter} / {fast.n_iter} | {t1 - t0:.1f} / {t2 - t1:.1f} | {ref.mean():.4f} / "
              f"{d_off.mean():.4f} / {d_fast.mean():.4f} | {100 * np.mean(d_fast != d_off):.3f} % , "
              f"{100 * np.mean(d_off != ref):.3f} % , {100 * np.mean(d_fast != ref):.3f} % |")


if __name__ == "__main__":
    main()
