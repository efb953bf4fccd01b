"""The Run config page: a run's full run.json as a table, and the fields in which two runs differ.

Expected values are read from the run directories' run.json directly.
"""

from __future__ import annotations

import json

import _configs
import pandas as pd


def _info(fx, role: str) -> dict:
    return json.loads((fx.root / fx.ids[role] / "run.json").read_text())


def test_flatten_and_table_list_every_leaf() -> None:
    info = {"method": "l2rm", "seed": 0, "config": {"l2rm": {"rho": 0.1, "partial": True}, "tags": [1, 2],
                                                      "empty": {}}, "versions": {"torch": "2.13.0"},
            "host": "h", "error": None}
    assert _configs.flatten(info) == {"method": "l2rm", "seed": 0, "config.l2rm.rho": 0.1,
                                      "config.l2rm.partial": True, "config.tags": [1, 2], "config.empty": {},
                                      "versions.torch": "2.13.0", "host": "h", "error": None}
    table = _configs.config_table(info)
    assert list(table["key"]) == ["error", "host", "method", "seed", "config.empty", "config.l2rm.partial",
                                  "config.l2rm.rho", "config.tags", "versions.torch"]
    assert dict(zip(table["key"], table["value"], strict=True))["config.l2rm.partial"] == "true"
    assert "host" not in set(_configs.config_table(info, bookkeeping=False)["key"])


def test_diff_reports_changed_added_and_removed_keys() -> None:
    a = {"method": "l2rm", "created": "t1", "config": {"l2rm": {"rho": 0.1, "lam": 0.01}, "seed": 0}}
    b = {"method": "l2rm", "created": "t2", "config": {"l2rm": {"rho": 0.4}, "seed": 0.0, "new": True}}
    diff = _configs.config_diff(a, b)
    assert diff.to_dict("records") == [
        {"key": "config.l2rm.lam", "a": "0.01", "b": "(absent)"},
        {"key": "config.l2rm.rho", "a": "0.1", "b": "0.4"},
        {"key": "config.new", "a": "(absent)", "b": "true"}]  # seed 0 == 0.0: no difference
    assert "created" in set(_configs.config_diff(a, b, bookkeeping=True)["key"])
    assert _configs.config_diff({"x": True}, {"x": 1})["key"].tolist() == ["x"]  # a flag is not a count
    assert _configs.config_diff(a, a).empty


def test_config_page_shows_the_full_run_json(open_page, fixture_runs) -> None:
    role = "syn/l2rm/0.4/0"
    at = open_page("config", config_run=fixture_runs.ids[role])
    info = _info(fixture_runs, role)
    table = at.dataframe[0].value
    shown = dict(zip(table["key"], table["value"], strict=True))
    for key, value in _configs.flatten(info["config"], "config.").items():
        assert key in shown
        if isinstance(value, str):
            assert shown[key] == value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            assert float(shown[key]) == float(value)
    assert shown["method"] == "l2rm" and shown["run_id"] == info["run_id"]
    assert any(t.value.startswith(fixture_runs.ids[role]) for t in at.text)


def test_config_page_diffs_two_picked_runs(open_page, fixture_runs) -> None:
    a, b = fixture_runs.ids["sweep/rho/0.05"], fixture_runs.ids["sweep/rho/0.4"]
    at = open_page("config", selected_runs=[a, b], runs_compare_widget=[a, b])
    assert at.selectbox(key="config_diff_a").value == a and at.selectbox(key="config_diff_b").value == b
    diff = at.dataframe[1].value
    info_a, info_b = _info(fixture_runs, "sweep/rho/0.05"), _info(fixture_runs, "sweep/rho/0.4")
    expected = _configs.config_diff(info_a, info_b)
    pd.testing.assert_frame_equal(diff.reset_index(drop=True), expected)
    keys = set(diff["key"])
    assert "rho" in keys and not keys & _configs.BOOKKEEPING
    rho = diff.set_index("key").loc["rho"]
    assert (float(rho["a"]), float(rho["b"])) == (info_a["rho"], info_b["rho"]) == (0.05, 0.4)
    at.selectbox(key="config_diff_b").set_value(a).run()
    assert any("Pick two different runs" in i.value for i in at.info)
