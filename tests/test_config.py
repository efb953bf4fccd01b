"""Configs validate themselves, reject unknown keys and apply key=value overrides; presets build."""

from __future__ import annotations

import pytest

from workbench.config import TrainConfig
from workbench.errors import ConfigError
from workbench.presets import PRESETS, get_preset, preset_names


def test_overrides_by_leaf_and_dotted_path() -> None:
    cfg = TrainConfig().override(["mrate=0.6", "model.embed_size=256", "rho=0.2", "bi_gru=false"])
    assert (cfg.data.mrate, cfg.model.embed_size, cfg.l2rm.rho, cfg.model.bi_gru) == (0.6, 256, 0.2, False)
    assert TrainConfig().override({"lr": 1}).optim.lr == 1.0  # int accepted for a float field


@pytest.mark.parametrize("item, message", [
    (["tau=0.1"], "ambiguous"),
    (["mrate=1.5"], "<= 1.0"),
    (["embsize=3"], "did you mean"),
    (["backbone=foo"], "not one of"),
    (["bi_gru=maybe"], "boolean"),
    (["epochs=two"], "integer"),
    (["noequals"], "key=value"),
])
def test_bad_overrides_are_clear_errors(item: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig().override(item)


def test_from_dict_round_trip_and_unknown_keys() -> None:
    cfg = TrainConfig().override(["mrate=0.4", "method=vanilla"])
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown config key 'model.embed'"):
        TrainConfig.from_dict({"model": {"embed": 3}})
    with pytest.raises(ConfigError, match="must be int"):
        TrainConfig.from_dict({"seed": "3"})


def test_every_preset_builds_a_valid_config() -> None:
    for name, preset in PRESETS.items():
        if preset.members:
            assert all(m in PRESETS for m in preset.members), name
            with pytest.raises(ConfigError, match="composite"):
                preset.config()
            continue
        cfg = preset.config()
        assert isinstance(cfg, TrainConfig), name


def test_paper_presets_follow_table5_and_appendix() -> None:
    f30k = get_preset("f30k-l2rm-sgr-0.6").config()
    assert (f30k.optim.warmup_epochs, f30k.optim.epochs, f30k.optim.lr_update) == (5, 35, 15)
    assert (f30k.l2rm.lam, f30k.l2rm.rho, f30k.l2rm.tau, f30k.l2rm.cost_lr) == (0.01, 0.1, 0.05, 2e-6)
    assert (f30k.model.embed_size, f30k.model.word_dim, f30k.model.sim_dim) == (1024, 300, 256)
    assert f30k.data.noise_file == "paper" and f30k.data.mrate == 0.6
    coco = get_preset("coco-l2rm-saf-0.2").config()
    assert (coco.optim.warmup_epochs, coco.optim.epochs, coco.optim.lr_update, coco.l2rm.lam) == (10, 20, 10, 0.07)
    assert coco.data.test_split == "testall"
    cc = get_preset("cc152k-l2rm-sgr").config()
    assert (cc.optim.warmup_epochs, cc.optim.epochs, cc.optim.lr_update, cc.data.mrate) == (10, 40, 20, 0.0)
    assert get_preset("f30k-l2rm-sgraf-0.8").members == ("f30k-l2rm-saf-0.8", "f30k-l2rm-sgr-0.8")


def test_unknown_preset_suggests() -> None:
    with pytest.raises(ConfigError, match="did you mean"):
        get_preset("f30k-l2rm-sgr-0.66")
    assert "cpu-l2rm-vse" in preset_names("cpu")


def test_decl_warmup_follows_the_mrate_of_its_scripts() -> None:
    assert [get_preset(f"f30k-decl-sgr-{r:g}").config().optim.warmup_epochs for r in (0.2, 0.4, 0.6, 0.8)] == [5, 5, 2, 2]
    assert [get_preset(f"coco-decl-saf-{r:g}").config().optim.warmup_epochs for r in (0.2, 0.4, 0.6, 0.8)] == [2, 2, 1, 1]
    assert get_preset("cpu-decl-vse").config().decl.eta == 0.25  # CPU scale: anneal within ~4 epochs


def test_backbone_specific_schedules() -> None:
    saf = get_preset("f30k-vanilla-saf-0.2").config().optim
    sgr = get_preset("f30k-vanilla-sgr-0.2").config().optim
    assert (saf.epochs, saf.lr_update) == (30, 20) and (sgr.epochs, sgr.lr_update) == (40, 30)  # SGRAF README


def test_paper_presets_follow_the_official_code_protocol() -> None:
    """F30K selects on 200 dev images (the official 1000 captions), L2RM's EM stops as the official code,
    NCR / BiCro run their code's behaviour; each description says so; CPU presets keep the defaults."""
    from workbench.presets import PRESETS, get_preset

    for name in ("f30k-l2rm-sgr-0.6", "f30k-ncr-saf-0.2", "f30k-vanilla-sgr-0"):
        assert get_preset(name).config().data.val_images == 200
    assert get_preset("coco-l2rm-sgr-0.6").config().data.val_images == 1000
    assert get_preset("f30k-l2rm-sgr-0.6").config().l2rm.em_stop == "official"
    ncr, bicro = get_preset("coco-ncr-sgr-0.4").config(), get_preset("cc152k-bicro-saf").config()
    assert ncr.ncr.margin_broadcast == "code"
    assert (bicro.bicro.margin_broadcast, bicro.bicro.label_scatter, bicro.bicro.mixture) == ("code",) * 3
    assert "margin broadcasting" in get_preset("coco-ncr-sgr-0.4").description
    assert "200 dev images" in get_preset("f30k-l2rm-sgr-0.6").description
    assert all("official-code protocol" in p.description for p in PRESETS.values() if p.group == "paper"
               and not p.members)
    cpu = get_preset("cpu-ncr-vse").config()
    assert cpu.ncr.margin_broadcast == "per_sample" and cpu.data.val_images == 300
