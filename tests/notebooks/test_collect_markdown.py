"""The collected markdown table keeps small quantities readable."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.reproduce.collect import to_markdown


def test_small_values_keep_three_digits_and_recalls_one_decimal() -> None:
    frame = pd.DataFrame({"lam": [0.07], "median_cost": [0.8123], "rsum": [319.24], "r1": [np.float32(5.25)],
                          "name": ["a|b"], "missing": [float("nan")]})
    row = to_markdown(frame).splitlines()[2]
    assert row == "| 0.07 | 0.812 | 319.2 | 5.25 | a\\|b |  |"
    assert to_markdown(frame, floatfmt=".2f").splitlines()[2].startswith("| 0.07 | 0.81 | 319.24 |")
