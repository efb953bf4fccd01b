"""Fixtures of the OT tests: single-threaded torch, and the L2RM reference code's Sinkhorn loop as an oracle.

Single thread: the solvers' tensors are small, and on a shared 2-core machine torch's intra-op threads
only add contention (measured: 10-20x slower under load).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _reference_sinkhorn(p: np.ndarray, q: np.ndarray, cost: np.ndarray, allowed: np.ndarray, reg: float):
    """``sinkhorn_log_domain`` of the L2RM code (spec l2rm_code.md 4.5), written from its description.

    Potentials ``u, v`` in cost units from 0; ``M = (-C + u + v) / reg`` with masked entries at -1e6
    after the division; max-shifted logsumexp with ``+1e-10`` inside the log; ``u`` then ``v``; stop when
    ``||u - u_prev||_2 < 1e-3`` or after 1000 iterations. Returns the plan and the iteration count.
    """

    def lse(x: np.ndarray, axis: int) -> np.ndarray:
        top = x.max(axis=axis, keepdims=True)
        return (top + np.log(np.exp(x - top).sum(axis=axis, keepdims=True) + 1e-10)).squeeze(axis)

    def scaled(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.where(allowed, (-cost + u[:, None] + v[None, :]) / reg, -1e6)

    u, v = np.zeros(len(p)), np.zeros(len(q))
    iterations = 0
    while iterations < 1000:
        iterations += 1
        u_prev = u
        u = reg * (np.log(p) - lse(scaled(u, v), 1)) + u
        v = reg * (np.log(q) - lse(scaled(u, v), 0)) + v
        if np.linalg.norm(u - u_prev) < 1e-3:
            break
    return np.exp(scaled(u, v)), iterations


@pytest.fixture
def reference_sinkhorn() -> Callable[..., tuple[np.ndarray, int]]:
    """The reference code's log-domain Sinkhorn with its own stopping rule (an oracle for ``stop_rule="official"``)."""
    return _reference_sinkhorn
