"""Reproduction targets expand into settings with distinct run directories; seeds reach the runs."""

from __future__ import annotations

import pytest

from workbench.errors import ConfigError
from workbench.reproduce import TARGETS, Setting, Target


@pytest.mark.parametrize("kind", ["cpu", "paper"])
@pytest.mark.parametrize("name", sorted(n for n, t in TARGETS.items() if "seeds" in t.axes and not t.whole_grid))
def test_several_seeds_give_one_run_directory_each(name: str, kind: str) -> None:
    settings = TARGETS[name].settings(kind, {"seeds": ["0", "1", "2"]})
    assert len({s.id for s in settings}) == len(settings)
    by_seed = {seed: [s for s in settings if s.labels.get("seed") == seed] for seed in (0, 1, 2)}
    assert all(len(group) == len(settings) // 3 for group in by_seed.values()), by_seed
    for seed, group in by_seed.items():
        assert all(f"seed={seed}" in s.overrides for s in group)


@pytest.mark.parametrize("kind", ["cpu", "paper"])
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_default_grids_have_distinct_run_directories(name: str, kind: str) -> None:
    settings = TARGETS[name].settings(kind, {})
    assert settings and len({s.id for s in settings}) == len(settings)


def test_table3_ablations_over_three_seeds() -> None:
    settings = TARGETS["table3"].settings("cpu", {"variants": ["L2RM"], "seeds": ["0", "1", "2"]})
    assert [s.id for s in settings] == ["l2rm-s0", "l2rm-s1", "l2rm-s2"]


def test_a_grid_whose_settings_collide_is_an_error() -> None:
    def grid(kind: str, axes: object) -> list[Setting]:
        return [Setting("same", "cpu-l2rm-vse", ("seed=0",), {"seed": 0}),
                Setting("same", "cpu-l2rm-vse", ("seed=1",), {"seed": 1})]

    target = Target("broken", "table1.py", "a grid that forgets the seed in its ids", grid, ("seeds",))
    with pytest.raises(ConfigError, match="broken: two settings share the run directory 'same'"):
        target.settings("cpu", {})


def test_uot_table_axes_become_notebook_parameters() -> None:
    target = TARGETS["uot-table"]
    (setting,) = target.settings("cpu", {"datasets": ["wikipedia", "mfeat"], "rates": ["0", "0.4"],
                                         "ceilings": ["corrected", "none"], "seeds": ["0", "1"]})
    assert dict(setting.labels) == {"seeds": [0, 1], "datasets": ["wikipedia", "mfeat"],
                                    "rates": {"symmetric": [0.0, 0.4]}, "ceilings": ["corrected"]}
    assert {"datasets", "rates", "ceilings"} <= set(target.axes)
