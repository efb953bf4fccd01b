"""The run-directory schema: every field of run.json, a metrics record and results.json is typed; a wrong
type is one DamagedRunError naming the file and the field; method sections are open (extra numeric keys
pass); artefact columns and array shapes are checked; writers cannot write what readers would refuse."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.runs import RunWriter, list_runs, read_arrays, read_metrics, read_run, read_table
from workbench.runschema import (
    METRICS_FIELDS,
    RESULTS_FIELDS,
    RUN_FIELDS,
    DamagedRunError,
    Field,
    check_metrics_record,
    check_results,
    check_run_info,
)

#: a value of the wrong type for each kind of field (and one for a bad entry inside an open section)
WRONG = {"str": {"nested": 1}, "int": "abc", "number": "abc", "bool": "yes", "timestamp": 5, "object": "abc",
         "list": 3, "numbers": {"x": "abc"}, "scalars": {"x": [1, 2]}, "strings": [1], "any": None,
         "nested_numbers": {"best": {"avg": "abc"}}}


def wrong_value(spec: Field) -> object:
    if spec.choices is not None:
        return "bogus" if spec.kind == "str" else 99
    return WRONG[spec.kind]


def _good_info() -> dict:
    return {"schema": 1, "run_id": "r", "status": "done", "error": None, "track": "retrieval", "preset": None,
            "dataset": "synthetic-tiny", "method": "l2rm", "backbone": "vse", "mrate": 0.2, "rho": 0.1,
            "lam": 0.07, "batch_size": 128, "seed": 0, "config": {}, "versions": {"python": "3.11"},
            "host": "h", "pid": 12, "created": "2026-01-01T00:00:00+00:00", "updated": None, "finished": None,
            "timings": {"total": 1.0}, "resumed": 0}


@pytest.mark.parametrize("name", sorted(RUN_FIELDS))
def test_every_run_json_field_of_the_wrong_type_is_named(name: str) -> None:
    spec = RUN_FIELDS[name]
    info = {**_good_info(), name: wrong_value(spec)}
    with pytest.raises(DamagedRunError) as caught:
        check_run_info(info, "x/run.json")
    assert caught.value.field is not None and caught.value.field.split(".")[0] == name
    assert f"field '{name}" in str(caught.value) and "x/run.json" in str(caught.value)


@pytest.mark.parametrize(("name", "value", "phrase"), [
    ("created", 5, "must be an ISO timestamp, got int 5"),
    ("created", "yesterday", "must be an ISO timestamp"),
    ("mrate", "abc", "must be a number, got str 'abc'"),
    ("mrate", float("nan"), "must be a number"),
    ("dataset", {"name": "f30k"}, "must be a string, got dict"),
    ("status", "damaged", "must be one of"),  # a reader's verdict, never a stored status
    ("pid", 0, "must be >= 1"),
    ("schema", True, "must be an integer, got bool"),
])
def test_the_reported_cases_name_field_and_value(name: str, value: object, phrase: str) -> None:
    with pytest.raises(DamagedRunError, match=phrase):
        check_run_info({**_good_info(), name: value}, "run.json")


def test_required_fields_statuses_and_unknown_keys() -> None:
    for name in ("schema", "status"):
        info = _good_info()
        del info[name]
        with pytest.raises(DamagedRunError, match=f"'{name}' is missing"):
            check_run_info(info, "run.json")
    for status in ("running", "done", "failed", "imported"):
        assert check_run_info({**_good_info(), "status": status}, "run.json")["status"] == status
    assert check_run_info({**_good_info(), "anything_new": [1, {"a": 2}]}, "run.json")["anything_new"]
    with pytest.raises(DamagedRunError, match="must be a JSON object, got list"):
        check_run_info([1, 2], "run.json")


@pytest.mark.parametrize("name", sorted(METRICS_FIELDS))
def test_every_metrics_field_of_the_wrong_type_is_named_with_its_line(name: str) -> None:
    record = {"epoch": 3, name: wrong_value(METRICS_FIELDS[name])}
    with pytest.raises(DamagedRunError) as caught:
        check_metrics_record(record, "m/metrics.jsonl", 7)
    assert caught.value.field.split(".")[0] == name and "m/metrics.jsonl:7" in str(caught.value)


def test_method_sections_are_open_to_new_numeric_keys() -> None:
    rematch = {"batches": 4, "transported_mass": 0.1, "unconverged": 0, "available": 12, "precision_available": 0.4,
               "ceiling_available": 0.9, "top1_transported": 0.5, "top1_untransported": None, "off_marginals": 0,
               "some_future_rate": 0.25}
    record = {"epoch": 0, "phase": "train", "rematch": rematch, "split": {"auc": 0.9, "guarded": False},
              "rdh_negatives": 17, "global_step": 120}
    assert check_metrics_record(record, "metrics.jsonl", 1)["rematch"] == rematch
    with pytest.raises(DamagedRunError, match=r"field 'rematch.available' must be a number, boolean"):
        check_metrics_record({"epoch": 0, "rematch": {"available": {"n": 1}}}, "metrics.jsonl", 1)
    with pytest.raises(DamagedRunError, match=r"field 'val.rsum' must be a number or null, got str"):
        check_metrics_record({"epoch": 0, "val": {"rsum": "412"}}, "metrics.jsonl", 1)
    with pytest.raises(DamagedRunError, match="'epoch' is missing"):
        check_metrics_record({"phase": "train"}, "metrics.jsonl", 1)


@pytest.mark.parametrize("name", sorted(RESULTS_FIELDS))
def test_every_results_field_of_the_wrong_type_is_named(name: str) -> None:
    with pytest.raises(DamagedRunError) as caught:
        check_results({name: wrong_value(RESULTS_FIELDS[name])}, "results.json")
    assert caught.value.field.split(".")[0] == name


def test_readers_report_bad_fields_and_list_the_run_as_damaged(tmp_path: Path) -> None:
    good = RunWriter.create(tmp_path / "good", config={}, summary={"method": "l2rm"})
    good.finish("done")
    bad = RunWriter.create(tmp_path / "bad", config={}, summary={"method": "l2rm"})
    bad.finish("done")
    info = json.loads((tmp_path / "bad" / "run.json").read_text())
    (tmp_path / "bad" / "run.json").write_text(json.dumps({**info, "created": 5}))
    runs = {s.run_id: s for s in list_runs(tmp_path)}
    assert runs["good"].status == "done"
    assert runs["bad"].status == "damaged" and "field 'created'" in runs["bad"].error
    (tmp_path / "good" / "metrics.jsonl").write_text('{"epoch": 0}\n{"epoch": "one"}\n')
    with pytest.raises(DamagedRunError, match=r"metrics.jsonl:2: field 'epoch'"):
        read_metrics(tmp_path / "good")
    (tmp_path / "good" / "metrics.jsonl").unlink()
    (tmp_path / "good" / "results.json").write_text('{"test": {"rsum": "high"}}')
    with pytest.raises(DamagedRunError, match=r"results.json: field 'test.rsum'"):
        read_run(tmp_path, "good")


def test_writers_refuse_what_readers_would_call_damaged(tmp_path: Path) -> None:
    writer = RunWriter.create(tmp_path / "r", config={}, summary={"method": "l2rm"})
    with pytest.raises(DamagedRunError, match="field 'mrate'"):
        writer.update(mrate="abc")
    writer.info.pop("mrate")
    with pytest.raises(DamagedRunError, match="field 'val.rsum'"):
        writer.log_epoch({"epoch": 0, "val": {"rsum": "abc"}})
    with pytest.raises(DamagedRunError, match="field 'best_epoch'"):
        writer.write_results({"best_epoch": "first"})
    assert not (tmp_path / "r" / "metrics.jsonl").exists() and not (tmp_path / "r" / "results.json").exists()
    writer.log_epoch({"epoch": 0, "val": {"rsum": float("nan")}})  # NaN is stored as null, which is valid
    assert read_metrics(tmp_path / "r")[0]["val"]["rsum"] is None


def test_artefact_tables_need_their_columns(tmp_path: Path) -> None:
    writer = RunWriter.create(tmp_path / "r", config={}, summary={"method": "l2rm"})
    frame = pd.DataFrame({"epoch": [1], "image": [3], "text_original": ["a"], "text_rematched": ["b"],
                          "score": np.float32([0.5]), "transported": [True]})
    writer.write_table("rematch_examples.parquet", frame)
    assert len(read_table(tmp_path, "r", "rematch_examples.parquet")) == 1
    writer.write_table("rematch_examples.parquet", frame.drop(columns="score"))
    with pytest.raises(DamagedRunError, match="field 'score' is a missing column"):
        read_table(tmp_path, "r", "rematch_examples.parquet")
    writer.write_table("rematch_examples.parquet", frame.assign(score=["high"]))
    with pytest.raises(DamagedRunError, match=r"field 'score' has dtype \w+; expected float"):
        read_table(tmp_path, "r", "rematch_examples.parquet")


def test_artefact_arrays_need_their_names_and_agreeing_shapes(tmp_path: Path) -> None:
    writer = RunWriter.create(tmp_path / "r", config={}, summary={"method": "l2rm"})
    good = {"cost": np.zeros((3, 4)), "plan": np.zeros((3, 4)), "mask": np.ones((3, 4), bool),
            "dummy_row": np.zeros(4), "dummy_col": np.zeros(3), "captions": np.array(["a"] * 4)}
    writer.write_arrays("alignments/epoch_001.npz", **good)
    from workbench.runs import read_alignment

    assert set(read_alignment(tmp_path, "r", 1)) == set(good)
    for name, value, phrase in (("plan", None, "'plan' is a missing array"),
                                ("dummy_col", np.zeros(5), "'dummy_col' has shape \\[5\\], which disagrees"),
                                ("mask", np.ones(4, bool), "'mask' has shape \\[4\\]; expected 2"),
                                ("cost", np.array([["a"] * 4] * 3), "'cost' has dtype <U1; expected numbers")):
        arrays = {k: v for k, v in good.items() if k != name}
        if value is not None:
            arrays[name] = value
        writer.write_arrays("alignments/epoch_001.npz", **arrays)
        with pytest.raises(DamagedRunError, match=phrase):
            read_alignment(tmp_path, "r", 1)
    writer.write_arrays("label_confusion.npz", confusion=np.zeros((3, 4), np.int64))
    with pytest.raises(DamagedRunError, match="'confusion' has shape \\[3, 4\\], which disagrees"):
        read_arrays(tmp_path, "r", "label_confusion.npz")
