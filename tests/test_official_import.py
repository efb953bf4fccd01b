"""Importing checkpoints of the official L2RM code, proven against the official model's own scores.

The reference is ``official-l2rm-checkpoints`` (read through the data mirror): SGR and SAF checkpoints in
the official ``torch.save`` layout and ``SGRAF.forward_all`` of the official code on fixed inputs.
"""

from __future__ import annotations

import argparse
import json
import pathlib
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.cli import main
from workbench.data import fetch
from workbench.data.vocab import SPECIAL_TOKENS, Vocabulary, save_vocab
from workbench.errors import ConfigError, DataFormatError, RunDirError
from workbench.official_import import import_official
from workbench.ot.cost import LearnableCost
from workbench.runs import list_runs, read_run_info

KINDS = ("sgr", "saf")


@pytest.fixture(scope="module")
def fixtures(mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("official")
    fetch("official-l2rm-checkpoints", root, mirror=mirror)  # checksums verified
    return root / "official_l2rm_checkpoints"


def _official(fixtures: Path, kind: str) -> dict:
    with torch.serialization.safe_globals([argparse.Namespace]):
        return torch.load(fixtures / f"official_l2rm_{kind}_tiny.pth.tar", weights_only=True)


def _vocab(n_words: int) -> Vocabulary:
    return Vocabulary.from_words([*SPECIAL_TOKENS, *(f"w{i}" for i in range(n_words - len(SPECIAL_TOKENS)))])


@pytest.mark.parametrize("kind", KINDS)
def test_imported_model_reproduces_the_official_scores(fixtures: Path, tmp_path: Path, kind: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = tmp_path / "runs" / kind
    assert main(["import", "official", str(fixtures / f"official_l2rm_{kind}_tiny.pth.tar"),
                 "--run-dir", str(run_dir)]) == 0
    out = tmp_path / "scores.npy"
    expected = np.load(fixtures / f"official_l2rm_{kind}_tiny_expected.npz")
    assert main(["score", str(run_dir), "--inputs", str(fixtures / f"official_l2rm_{kind}_tiny_expected.npz"),
                 "--out", str(out)]) == 0
    scores = np.load(out)
    assert scores.shape == expected["sims"].shape == (6, 10)
    np.testing.assert_allclose(scores, expected["sims"], atol=1e-5, rtol=0)
    # the scores spread over (0, 1): a wrong mapping could not pass by predicting a constant
    assert expected["sims"].std() > 0.1
    info = read_run_info(run_dir)
    assert info["status"] == "imported" and info["backbone"] == kind and info["method"] == "l2rm"
    assert info["config"]["model"]["embed_size"] == 64 and info["config"]["l2rm"]["lam"] == 0.01
    assert info["imported"]["vocab_size"] == 120 and info["config"]["data"]["mrate"] == 0.6
    listed = {s.run_id: s.status for s in list_runs(tmp_path / "runs")}
    assert listed == {kind: "imported"}  # the dashboard's listing


def test_imported_cost_function_equals_the_official_one(fixtures: Path, tmp_path: Path) -> None:
    import_official(fixtures / "official_l2rm_sgr_tiny.pth.tar", tmp_path / "run")
    state = torch.load(tmp_path / "run" / "checkpoints" / "best.pt", weights_only=True)
    cost = LearnableCost(128)
    cost.load_state_dict(state["cost_net"])
    official = _official(fixtures, "sgr")["cost_function"]
    s = torch.rand(7, 128, generator=torch.Generator().manual_seed(0))
    reference = torch.relu(s @ official["fc.weight"].T + official["fc.bias"])  # FeedForward_Network
    assert torch.equal(cost(s), reference)
    assert not torch.equal(official["fc.weight"], -torch.eye(128))  # not the initial value by accident


def test_the_mask_word_and_the_vocabulary(fixtures: Path, tmp_path: Path) -> None:
    ckpt = fixtures / "official_l2rm_saf_tiny.pth.tar"
    vocab = save_vocab(_vocab(119), tmp_path / "v119.json")  # + <mask> = opt.vocab_size 120
    run = import_official(ckpt, tmp_path / "a", vocab=vocab)
    assert read_run_info(run)["imported"]["vocab_fingerprint"]
    import_official(ckpt, tmp_path / "b", vocab=save_vocab(_vocab(120), tmp_path / "v120.json"))
    with pytest.raises(DataFormatError, match=r"100 words.*opt.vocab_size 120"):
        import_official(ckpt, tmp_path / "c", vocab=save_vocab(_vocab(100), tmp_path / "v100.json"))


def _save(obj: object, path: Path) -> Path:
    torch.save(obj, path)
    return path


def test_bad_files_are_refused(fixtures: Path, tmp_path: Path) -> None:
    good = _official(fixtures, "sgr")
    # a pickle that needs another global than argparse.Namespace
    with pytest.raises(RunDirError, match=r"refused: .*pathlib\.PosixPath"):
        import_official(_save({**good, "extra": pathlib.PosixPath("/x")}, tmp_path / "g.pth"), tmp_path / "r1")
    # another layout
    with pytest.raises(RunDirError, match=r"lacks 'net'"):
        import_official(_save({"model_A": good["net"], "opt": good["opt"]}, tmp_path / "l.pth"), tmp_path / "r2")
    # a missing parameter
    net = dict(good["net"])
    del net["sim_enc.SGR_module.2.sim_graph_w.bias"]
    with pytest.raises(RunDirError, match=r"missing parameters.*head\.graph\.2\.update\.bias"):
        import_official(_save({**good, "net": net}, tmp_path / "m.pth"), tmp_path / "r3")
    # a shape that does not fit opt
    opt = argparse.Namespace(**{**vars(good["opt"]), "sim_dim": 16})
    with pytest.raises(RunDirError, match=r"'sim_enc\.sim_tranloc_w\.weight' has shape \(32, 64\).*\(16, 64\)"):
        import_official(_save({**good, "opt": opt}, tmp_path / "s.pth"), tmp_path / "r4")
    # an unknown parameter
    with pytest.raises(RunDirError, match=r"unexpected parameters \['sim_enc\.extra'\]"):
        import_official(_save({**good, "net": {**good["net"], "sim_enc.extra": torch.zeros(1)}}, tmp_path / "u.pth"),
                        tmp_path / "r5")
    # options the workbench cannot represent
    opt = argparse.Namespace(**{**vars(good["opt"]), "no_txtnorm": True})
    with pytest.raises(ConfigError, match="no_txtnorm"):
        import_official(_save({**good, "opt": opt}, tmp_path / "n.pth"), tmp_path / "r6")
    # truncated bytes
    data = (fixtures / "official_l2rm_sgr_tiny.pth.tar").read_bytes()
    (tmp_path / "t.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(RunDirError, match="not a readable checkpoint"):
        import_official(tmp_path / "t.pth", tmp_path / "r7")
    # no cost function and no method named
    no_cost = {k: v for k, v in good.items() if k != "cost_function"}
    with pytest.raises(ConfigError, match="name the method"):
        import_official(_save(no_cost, tmp_path / "c.pth"), tmp_path / "r8")
    import_official(tmp_path / "c.pth", tmp_path / "r9", method="ncr")  # an NCR file of the same layout
    assert read_run_info(tmp_path / "r9")["method"] == "ncr"
    for r in ("r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"):
        assert not (tmp_path / r / "run.json").exists()  # nothing half-imported


def test_score_refuses_inputs_that_do_not_fit(fixtures: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    run = import_official(fixtures / "official_l2rm_sgr_tiny.pth.tar", tmp_path / "run")
    z = dict(np.load(fixtures / "official_l2rm_sgr_tiny_expected.npz"))
    bad = {**z, "captions": np.where(z["captions"] > 0, 200, 0)}
    np.savez(tmp_path / "words.npz", **bad)
    assert main(["score", str(run), "--inputs", str(tmp_path / "words.npz"), "--out", str(tmp_path / "o.npy")]) == 2
    assert "word id 200 is outside the model's vocabulary of 120" in capsys.readouterr().err
    np.savez(tmp_path / "nolen.npz", images=z["images"], captions=z["captions"])
    assert main(["score", str(run), "--inputs", str(tmp_path / "nolen.npz"), "--out", str(tmp_path / "o.npy")]) == 2
    assert "missing lengths" in capsys.readouterr().err
    np.savez(tmp_path / "regions.npz", **{**z, "images": z["images"][:, :10]})
    assert main(["score", str(run), "--inputs", str(tmp_path / "regions.npz"), "--out", str(tmp_path / "o.npy")]) == 2
    assert "10 regions" in capsys.readouterr().err
    assert not (tmp_path / "o.npy").exists()


def _fake_f30k(root: Path, vocab: Vocabulary, rng: np.random.Generator) -> None:
    """A precomp directory of F30K's layout at the fixtures' sizes (36 x 64 features, 5 captions each)."""
    d = root / "f30k_precomp"
    d.mkdir(parents=True)
    for split, n in (("train", 10), ("dev", 4), ("test", 6)):
        np.save(d / f"{split}_ims.npy", rng.standard_normal((n, 36, 64)).astype(np.float32))
        lines = [" ".join(vocab.words[4 + rng.integers(0, len(vocab) - 4)] for _ in range(rng.integers(3, 9)))
                 for _ in range(5 * n)]
        (d / f"{split}_caps.txt").write_text("\n".join(lines) + "\n")
    save_vocab(vocab, d / "vocab.json")
    noise = root / "noise_index" / "f30k_precomp"
    noise.mkdir(parents=True)
    np.save(noise / "noise_inx_0.6.npy", np.array([1, 2, 3, 4, 5, 0, 6, 7, 8, 9], dtype=np.int64))


def test_eval_of_an_imported_run_ranks_with_its_scores(fixtures: Path, tmp_path: Path, rng: np.random.Generator,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    vocab = _vocab(119)
    _fake_f30k(tmp_path / "data", vocab, rng)
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path / "data"))
    run = import_official(fixtures / "official_l2rm_sgr_tiny.pth.tar", tmp_path / "run",
                          vocab=tmp_path / "data" / "f30k_precomp" / "vocab.json")
    capsys.readouterr()
    assert main(["eval", str(run)]) == 0  # no results yet: evaluates the test split
    metrics = json.loads(capsys.readouterr().out)["all"]
    # the same ranking from `workbench score` on the test split's own arrays
    from workbench.config import DataConfig
    from workbench.data.dataset import load_retrieval_data

    data = load_retrieval_data(DataConfig(dataset="f30k", mrate=0.6, noise_file="paper"))
    tokens, lengths = data.test.captions.batch(np.arange(len(data.test.captions)))
    np.savez(tmp_path / "test.npz", images=data.test.images.astype(np.float32), captions=tokens.numpy(),
             lengths=lengths.numpy())
    assert main(["score", str(run), "--inputs", str(tmp_path / "test.npz"), "--out", str(tmp_path / "s.npy")]) == 0
    sims = np.load(tmp_path / "s.npy")  # [6 images, 30 captions]
    best_image = sims.argmax(axis=0)
    t2i_r1 = 100 * np.mean(best_image == np.arange(30) // 5)
    assert metrics["t2i_r1"] == pytest.approx(t2i_r1)
    # data encoded with another vocabulary is refused
    other = Vocabulary.from_words([*vocab.words[:4], *reversed(vocab.words[4:])])
    save_vocab(other, tmp_path / "data" / "f30k_precomp" / "vocab.json")
    assert main(["eval", str(run)]) == 2
    assert "not the one the model was imported with" in capsys.readouterr().err
