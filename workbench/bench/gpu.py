"""``workbench bench gpu``: is the paper's training fast on one GPU, and what do the paper's grids cost?

One command, sections printed as JSON lines as they finish:

1. ``sgr`` and ``saf``: the L2RM training step at batch 128 (:mod:`workbench.bench.l2rm_step`) batched in
   every precision (``fp32``; ``tf32`` on CUDA; ``bf16``: the head under bfloat16 autocast) and through the
   per-caption loop reference (fp32), after checking that the two paths compute the same step
   (:mod:`workbench.bench.agreement`); seconds per step, peak memory, the loop / batched ratios; and the
   vanilla, warm-up and forward phases at the projection precision (bf16 on CUDA, fp32 on the CPU);
2. ``eval``: the exhaustive SGRAF evaluation of 1000 images x 5000 captions (:mod:`workbench.bench.sgraf_eval`);
3. ``projection``: one F30K epoch of L2RM-SGR, one Table 1 row (L2RM-SGRAF on F30K at MRate 0.6: the SAF
   and the SGR run) and the full paper Table 1 grid, in GPU hours (:mod:`workbench.bench.projection`);
4. ``ddp``: the step in two processes when two GPUs are visible, else reported as not run;
5. ``summary``: every figure in one line (the row appended to ``benchmarks/BENCHMARKS.md``).

``smoke=True`` runs the same sections at :meth:`BenchShape.smoke` sizes (seconds on a CPU) and
:func:`check_result` verifies the output: the paths agree, every timed mode has a positive time and
memory figure, the evaluation and projections completed.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from workbench.bench import machine
from workbench.bench.agreement import check_agreement
from workbench.bench.l2rm_step import L2RMStep
from workbench.bench.projection import GpuCosts, PhaseSeconds, paper_config_seconds, run_seconds
from workbench.bench.sgraf_eval import bench_sgraf_eval
from workbench.bench.shapes import DATASET_PAIRS, BenchShape
from workbench.bench.timing import time_modes

__all__ = ["run_gpu_bench", "check_result", "device_name", "default_benchmarks_file"]

def device_name(device: torch.device) -> str:
    """The GPU's name and memory, or the CPU description of :func:`workbench.bench.machine`."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name} {props.total_memory / 2**30:.0f} GiB, torch {torch.__version__}"
    return machine()


def _backbone_section(shape: BenchShape, backbone: str, device: torch.device, precisions: tuple[str, ...],
                      projection: str, repeats: int, loop_repeats: int, chunk_mb: float) -> dict[str, Any]:
    step = L2RMStep(shape, backbone, device, chunk_mb=chunk_mb)
    agreement = check_agreement(step)
    batched = time_modes({f"l2rm_{p}": (lambda p=p: step.run("l2rm", precision=p)) for p in precisions},
                         device, repeats=repeats)
    loop = time_modes({"loop": lambda: step.run("l2rm", loop=True)}, device, repeats=loop_repeats)
    phases = time_modes({ph: (lambda ph=ph: step.run(ph, precision=projection))
                         for ph in ("triplet", "warmup", "forward")}, device, repeats=repeats)
    out: dict[str, Any] = {"section": backbone, **{f"{backbone}_agree_{k}": v for k, v in agreement.as_dict().items()},
                           f"{backbone}_agree_failures": agreement.failures()}
    for name, fig in {**batched, **loop, **phases}.items():
        out[f"{backbone}_{name}_s"] = round(fig.seconds, 4)
        out[f"{backbone}_{name}_peak_mb"] = round(fig.peak_mb, 1)
    out[f"{backbone}_memory_kind"] = batched[f"l2rm_{precisions[0]}"].memory_kind
    for p in precisions:
        out[f"{backbone}_loop_over_{p}"] = round(loop["loop"].seconds / batched[f"l2rm_{p}"].seconds, 2)
    out[f"{backbone}_l2rm_s"] = out[f"{backbone}_l2rm_{projection}_s"]  # the phases used for projections
    return out


def _projection_section(figures: dict[str, Any], shape: BenchShape, eval_key: str) -> dict[str, Any]:
    from workbench.presets import get_preset
    from workbench.reproduce.targets import get_target

    phases = {b: PhaseSeconds(*(figures[f"{b}_{ph}_s"] for ph in ("l2rm", "triplet", "warmup", "forward")))
              for b in ("sgr", "saf")}
    # one model's evaluation ~ half the SGRAF pair's, rescaled to the 1000 x 5000 split by the pair count
    scale = (1000 * 5000) / (shape.eval_images * shape.eval_images * shape.captions_per_image)
    costs = GpuCosts(phases, shape.batch, figures[eval_key] / 2 * scale, "this run")
    sgr_epoch = run_seconds("l2rm", "f30k", 0.6, 0, 1, 128, phases["sgr"], 0.0, shape.batch)
    row = sum(paper_config_seconds(get_preset(f"f30k-l2rm-{b}-0.6").config(), costs) for b in ("saf", "sgr"))
    grid = sum(paper_config_seconds(get_preset(s.preset).config().override(list(s.overrides)), costs)
               for s in get_target("table1").settings("paper", {}))
    return {"section": "projection", "f30k_pairs": DATASET_PAIRS["f30k"],
            "f30k_l2rm_sgr_epoch_h": round(sgr_epoch / 3600, 3), "table1_row_h": round(row / 3600, 2),
            "table1_grid_h": round(grid / 3600, 1),
            "projection_note": "F30K L2RM-SGR main epoch at MRate 0.6 (split pass + clean batches); Table 1 row "
                               "= L2RM-SGRAF F30K MRate 0.6 (SAF + SGR runs, 5 + 35 epochs, validation each "
                               "epoch); grid = every paper Table 1 setting (F30K and COCO, 6 methods, SAF and "
                               "SGR, MRate 0.2-0.8, seed 0). Modelled from the measured phases"}


def run_gpu_bench(*, smoke: bool = False, device: torch.device | None = None, ddp: bool = True,
                  emit: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run every section (see the module docstring); ``emit`` receives each section's dict as it finishes.

    Returns the summary: every section's figures merged, plus ``date``, ``device``, ``shape``.
    """
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    shape = BenchShape.smoke() if smoke else BenchShape.paper()
    cuda = device.type == "cuda"
    precisions = ("fp32", "tf32", "bf16") if cuda else ("fp32", "bf16")
    projection = "bf16" if cuda else "fp32"
    repeats, loop_repeats = (2, 1) if smoke else (5, 2)
    chunk_mb = 512.0 if cuda else 96.0  # the paper presets' model.chunk_mb on a GPU; the CPU default
    summary: dict[str, Any] = {"date": datetime.date.today().isoformat(), "device": device_name(device),
                               "shape": shape.name, "batch": shape.batch, "projection_precision": projection,
                               "precisions": list(precisions), "chunk_mb": chunk_mb}
    if not cuda:
        summary["tf32"] = "not run: TF32 is a CUDA matrix-product mode"

    def publish(section: dict[str, Any]) -> None:
        summary.update({k: v for k, v in section.items() if k != "section"})
        if emit is not None:
            emit(section)

    def guarded(name: str, build: Callable[[], dict[str, Any]]) -> None:
        # one failing section (out of memory, a kernel error) must not lose the others' figures
        try:
            section = build()
        except Exception as exc:  # reported in the section and by check_result, not swallowed
            if device.type == "cuda":
                torch.cuda.empty_cache()
            section = {"section": name, f"{name}_error": f"{type(exc).__name__}: {exc}"}
        publish(section)

    for backbone in ("sgr", "saf"):
        guarded(backbone, lambda b=backbone: _backbone_section(shape, b, device, precisions, projection, repeats,
                                                               loop_repeats, chunk_mb))

    def evaluation() -> dict[str, Any]:
        evals: dict[str, Any] = {"section": "eval"}
        for precision in ("fp32", "bf16"):
            figures = bench_sgraf_eval(shape, device, precision=precision, chunk_mb=chunk_mb)
            evals.update(eval_images=figures["eval_images"], eval_captions=figures["eval_captions"],
                         eval_ranks=figures["eval_ranks"])
            evals.update({f"eval_{precision}_{key[5:]}": figures[key]
                          for key in ("eval_s", "eval_rsum", "eval_peak_mb") if key in figures})
        return evals

    guarded("eval", evaluation)
    guarded("projection", lambda: _projection_section(summary, shape, f"eval_{projection}_s"))

    def data_parallel() -> dict[str, Any]:
        available, reason = _ddp_status(ddp)
        if not available:
            return {"section": "ddp", "ddp": reason}
        from workbench.bench.ddp_step import bench_ddp_step

        figures = bench_ddp_step(shape, precision=projection, chunk_mb=chunk_mb)
        return {"section": "ddp", **figures, "ddp": figures["ddp_s"]}

    guarded("ddp", data_parallel)
    return summary


def _ddp_status(wanted: bool) -> tuple[bool, str]:
    if not wanted:
        return False, "not run: --no-ddp"
    from workbench.bench.ddp_step import ddp_available

    return ddp_available()


def check_result(summary: dict[str, Any]) -> list[str]:
    """What is wrong with a bench summary (empty when complete): disagreeing paths, missing or
    non-positive times and memory figures, an evaluation or projection that did not complete."""
    problems: list[str] = [f"section {key[:-6]} failed: {value}" for key, value in summary.items()
                           if key.endswith("_error")]
    for backbone in ("sgr", "saf"):
        problems += [f"{backbone}: batched and loop steps differ: {f}" for f in summary.get(f"{backbone}_agree_failures", ["no agreement check ran"])]
        modes = [f"l2rm_{p}" for p in summary.get("precisions", [])] + ["loop", "triplet", "warmup", "forward"]
        for mode in modes:
            for suffix in ("s", "peak_mb"):
                key = f"{backbone}_{mode}_{suffix}"
                value = summary.get(key)
                if not (isinstance(value, (int, float)) and value > 0):
                    problems.append(f"{key} is {value!r}, expected a positive number")
    for key in ("eval_fp32_s", "eval_bf16_s", "f30k_l2rm_sgr_epoch_h", "table1_row_h", "table1_grid_h"):
        value = summary.get(key)
        if not (isinstance(value, (int, float)) and value > 0):
            problems.append(f"{key} is {value!r}, expected a positive number")
    if "ddp" not in summary:
        problems.append("the DDP section is missing")
    return problems


def print_json(section: dict[str, Any]) -> None:
    print(json.dumps(section), flush=True)


def default_benchmarks_file() -> Path:
    """``benchmarks/BENCHMARKS.md`` of the checkout this package runs from, else of the working directory."""
    checkout = Path(__file__).resolve().parents[2] / "benchmarks" / "BENCHMARKS.md"
    return checkout if checkout.exists() else Path("benchmarks") / "BENCHMARKS.md"
