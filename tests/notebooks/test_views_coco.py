"""MS-COCO runs are compared with the paper's 1K five-fold rows (Tables 1/6/7) and 5K row (Table 8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench import reference
from workbench.reproduce import views
from workbench.runs import RunWriter

RK = ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10")


def _metrics(base: float) -> dict[str, float]:
    values = {k: base + i for i, k in enumerate(RK)}
    return {**values, "rsum": sum(values.values())}


def test_coco_uses_five_fold_for_1k_and_full_test_for_5k(tmp_path: Path) -> None:
    w = RunWriter.create(tmp_path / "coco", config={}, summary={"dataset": "coco", "method": "l2rm",
                                                                  "backbone": "sgr", "mrate": 0.2})
    w.write_results({"test": _metrics(50.0), "test_5fold": _metrics(50.0), "test_5k": _metrics(30.0)})
    w.finish("done")
    one_k = views.retrieval_comparison(tmp_path / "coco", "paper")
    paper = reference.lookup("coco", 0.2, "l2rm", "sgr")
    assert one_k.iloc[0]["i2t_r1"] == 50.0 and one_k.iloc[1]["i2t_r1"] == pytest.approx(paper.metrics["i2t_r1"])
    five_k = views.retrieval_comparison(tmp_path / "coco", "paper", key="test_5k", protocol="5k")
    paper_5k = reference.lookup("coco", 0.2, "l2rm", "sgr", protocol="5k")
    assert five_k.iloc[0]["i2t_r1"] == 30.0
    assert five_k.iloc[1]["i2t_r1"] == pytest.approx(paper_5k.metrics["i2t_r1"])
