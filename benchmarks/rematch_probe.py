"""Measurements behind ``docs/rematching.md``: what limits L2RM's rematching on the synthetic set.

Subcommands (each prints JSON lines):

``realism``
    How skewed the content words of real captions are (Flickr30K / MS-COCO, read through the data mirror)
    against the synthetic set at several ``frequency_skew`` values: for every content word, the fraction of
    images whose captions use it (its *image frequency*); reported are the frequencies of ranks 1, 10, 20 and
    50, the ratio rank 1 / rank 20 and the slope of log frequency against log rank over ranks 1-50.

``oracle``
    The precision ceiling of two ideal scoring rules on the synthetic truth, for rematching batches of ``B``
    random captions against ``B`` random images (own captions masked): the cosine of bag-of-concept count
    vectors (classes, attributes and places, with or without the class-attribute binding) and *containment*
    (the fraction of a caption's concepts present in the image). Only rows with a fitting caption count.

``resolve RUN_DIR``
    Re-solves the saved rematching batches of a run (``artifacts/alignments/epoch_XXX.npz``) with the masked
    partial OT at several entropic scales ``lam``, on the saved cost and on ``ReLU(1 - S)``, and reports the
    statistics of :func:`workbench.methods.rematch_stats.batch_rematch_stats` (precision on rows with a
    fitting caption, the similarity's ceiling, top-1 of transported and untransported rows).

``cost RUN_DIR``
    Trains a fresh learnable cost (Eq. 6) for a number of Adam steps on the run's frozen model (last
    checkpoint) and reports, at chosen steps, the median cost of matched and mismatched pairs and the
    rematching statistics of fixed noisy batches: what a larger cost learning rate does.

    python benchmarks/rematch_probe.py realism --skews 0,0.8,1,1.2
    python benchmarks/rematch_probe.py oracle --skews 0,1
    python benchmarks/rematch_probe.py resolve runs/table1/l2rm-vse-m0.6-s0 --lams 0.07,0.01,0.001
    python benchmarks/rematch_probe.py cost runs/table1/l2rm-vse-m0.6-s0 --lr 8e-5 --steps 0,200,600
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from workbench.data.synthetic import SyntheticConfig, generate
from workbench.data.synthetic_grammar import ATTRIBUTE_WORDS, CLASS_WORDS, PLACE_WORDS
from workbench.data.synthetic_truth import SceneTruth
from workbench.methods.rematch_stats import RematchSums, batch_rematch_stats
from workbench.ot import diagonal_mask, partial_ot

#: Function words left out of the real captions' content words (articles, prepositions, pronouns, numerals).
_STOP = frozenset(
    "a an the of in on at with and is are to its his her their while two three one four some other as by for "
    "from into near next up down over under out front behind through this that it them they he she there".split())


def _emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


# ------------------------------------------------------------------------------------------- realism
def image_frequencies(captions: Sequence[str], per_image: int, vocabulary: frozenset[str] | None = None
                      ) -> np.ndarray:
    """Descending image frequencies of content words: the fraction of images whose captions use each word.

    ``vocabulary`` restricts the words counted (the synthetic set's class, attribute and place words);
    otherwise lower-case alphabetic tokens of 3+ letters outside a stop list count.
    """
    n = len(captions) // per_image
    counts: Counter[str] = Counter()
    for i in range(n):
        words: set[str] = set()
        for text in captions[i * per_image:(i + 1) * per_image]:
            tokens = re.findall(r"[a-z]+", text.lower())
            words |= {w for w in tokens if (w in vocabulary if vocabulary is not None
                                              else (w not in _STOP and len(w) > 2))}
        counts.update(words)
    return np.array(sorted(counts.values(), reverse=True), dtype=np.float64) / n


def skew_statistics(freq: np.ndarray) -> dict[str, float]:
    """Ranks 1/10/20/50, the rank-1/rank-20 ratio and the log-log slope over ranks 1-50."""
    ranks = np.arange(1, 51)
    return {"rank1": round(float(freq[0]), 3), "rank10": round(float(freq[9]), 3),
            "rank20": round(float(freq[19]), 3), "rank50": round(float(freq[49]), 3),
            "ratio_1_20": round(float(freq[0] / freq[19]), 2),
            "slope_1_50": round(float(np.polyfit(np.log(ranks), np.log(freq[:50]), 1)[0]), 2)}


def cmd_realism(args: argparse.Namespace) -> None:
    from workbench.data.download import fetch

    for name in ("f30k-captions", "coco-captions"):
        for fetched in fetch(name, args.data_root).files:
            if fetched.path.name in ("dev_caps.txt", "test_caps.txt", "testall_caps.txt"):
                lines = fetched.path.read_text(encoding="utf-8").splitlines()
                _emit({"source": f"{fetched.path.parent.name}/{fetched.path.name}", "images": len(lines) // 5,
                       **skew_statistics(image_frequencies(lines, 5))})
    content = frozenset(w for group in CLASS_WORDS + ATTRIBUTE_WORDS + PLACE_WORDS for w in group)
    for skew in args.skews:
        split = generate(args.size, seed=args.seed, config=SyntheticConfig(frequency_skew=skew))["train"]
        _emit({"source": f"synthetic {args.size} seed {args.seed} frequency_skew {skew:g}",
               "images": len(split.captions) // 5,
               **skew_statistics(image_frequencies(split.captions, 5, content))})


# -------------------------------------------------------------------------------------------- oracle
def concept_vectors(truth: SceneTruth, *, binding: bool) -> tuple[np.ndarray, np.ndarray]:
    """Count vectors ``[N, F]`` of images and ``[M, F]`` of captions over classes, attributes and places.

    With ``binding`` an attribute is counted as the pair (class, attribute); without, on its own.
    """
    c, a, p = truth.n_classes, truth.n_attributes, truth.n_places
    attr_base = c + c * a + p
    width = attr_base + a

    def fill(classes: np.ndarray, attributes: np.ndarray, places: np.ndarray) -> np.ndarray:
        out = np.zeros((len(places), width))
        rows = np.repeat(np.arange(len(places)), classes.shape[1])
        cls, att = classes.ravel(), attributes.ravel()
        has = cls >= 0
        np.add.at(out, (rows[has], cls[has]), 1)
        bound = has & (att >= 0)
        column = c + cls[bound] * a + att[bound] if binding else attr_base + att[bound]
        np.add.at(out, (rows[bound], column), 1)
        said = places >= 0
        np.add.at(out, (np.flatnonzero(said), c + c * a + places[said]), 1)
        return out

    images = fill(truth.image_classes, truth.image_attributes, truth.image_places)
    captions = fill(truth.caption_classes, truth.caption_attributes, truth.caption_places)
    return images, captions


def oracle_ceilings(truth: SceneTruth, *, batch: int, batches: int, seed: int, binding: bool) -> dict[str, float]:
    """Ceilings of bag-cosine and containment scoring on random rematching batches (see the module doc)."""
    images, captions = concept_vectors(truth, binding=binding)
    unit_i = images / np.linalg.norm(images, axis=1, keepdims=True)
    unit_c = captions / np.linalg.norm(captions, axis=1, keepdims=True)
    present_i, present_c = images > 0, captions > 0
    rng = np.random.default_rng(seed)
    rows = np.arange(batch)
    available = cosine_hits = containment_hits = 0
    for _ in range(batches):
        img = rng.choice(truth.n_images, batch, replace=False)
        cap = rng.choice(truth.n_captions, batch, replace=False)
        own = truth.source_image(cap)[None, :] == img[:, None]
        fits = truth.compatibility(cap, img).T & ~own
        cosine = np.where(own, -np.inf, unit_i[img] @ unit_c[cap].T)
        inside = (present_i[img][:, None, :] & present_c[cap][None, :, :]).sum(-1) / present_c[cap].sum(-1)
        containment = np.where(own, -np.inf, inside + 1e-3 * cosine)  # cosine breaks ties
        has = fits.any(axis=1)
        available += int(has.sum())
        cosine_hits += int(fits[rows, cosine.argmax(axis=1)][has].sum())
        containment_hits += int(fits[rows, containment.argmax(axis=1)][has].sum())
    return {"available": round(available / (batches * batch), 3),
            "bag_cosine_ceiling": round(cosine_hits / available, 3),
            "containment_ceiling": round(containment_hits / available, 3)}


def cmd_oracle(args: argparse.Namespace) -> None:
    for skew in args.skews:
        truth = generate(args.size, seed=args.seed, config=SyntheticConfig(frequency_skew=skew))["train"].truth
        for binding in (True, False):
            _emit({"size": args.size, "seed": args.seed, "frequency_skew": skew, "binding": binding,
                   "batch": args.batch, **oracle_ceilings(truth, batch=args.batch, batches=args.batches,
                                                           seed=args.seed, binding=binding)})


# ------------------------------------------------------------------------------------------- resolve
def _summary(sums: RematchSums) -> dict[str, float]:
    keep = ("available", "precision_available", "ceiling_available", "chance_available", "top1_transported",
            "top1_untransported", "top1_uniform", "cost_iqr")
    return {k: round(v, 4) for k, v in sums.summary().items() if k in keep}


def cmd_resolve(args: argparse.Namespace) -> None:
    folder = Path(args.run_dir) / "artifacts" / "alignments"
    files = sorted(folder.glob("epoch_*.npz"))
    if not files:
        raise SystemExit(f"{folder}: no saved rematching batches")
    chosen = files[-args.last:]
    for lam in args.lams:
        for cost_kind in ("saved", "relu_one_minus_s"):
            sums = RematchSums()
            for path in chosen:
                with np.load(path, allow_pickle=False) as npz:
                    batch = {k: npz[k] for k in npz.files}
                similarity = batch["similarity"].astype(np.float64)
                cost = batch["cost"] if cost_kind == "saved" else np.maximum(1.0 - similarity, 0.0)
                mask = batch["mask"].astype(bool)
                res = partial_ot(torch.as_tensor(cost, dtype=torch.float64), mass=float(batch["rho"]), eps=lam,
                                 mask=torch.as_tensor(mask), tol=1e-9, max_iter=20000)
                sums = sums + batch_rematch_stats(res.plan.numpy(), similarity, cost, rho=float(batch["rho"]),
                                                  mask=mask, fits=batch.get("truth"))
            _emit({"run": str(args.run_dir), "batches": [p.name for p in chosen], "lam": lam, "cost": cost_kind,
                   **_summary(sums)})


# ---------------------------------------------------------------------------------------------- cost
def cmd_cost(args: argparse.Namespace) -> None:
    from workbench.config import TrainConfig
    from workbench.data.dataset import load_retrieval_data
    from workbench.methods import build_method
    from workbench.ot import LearnableCost, build_cost_supervision, cost_supervision_loss

    torch.set_num_threads(args.threads)
    state = torch.load(Path(args.run_dir) / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    cfg = TrainConfig.from_dict(state["config"])
    if cfg.method != "l2rm":
        raise SystemExit(f"{args.run_dir}: an L2RM run is needed (its split says which pairs are clean)")
    data = load_retrieval_data(cfg.data)
    method = build_method(cfg, data, torch.device("cpu"))
    method.load_state_dict(state["method"])
    model, train, truth = method.models[0], data.train, data.truth
    model.eval()
    est = state["method"]["extra"]["est_clean"].numpy()
    clean_idx, noisy_idx = np.flatnonzero(est), np.flatnonzero(~est)
    b, rho = cfg.optim.batch_size, cfg.l2rm.rho
    rng, generator = np.random.default_rng(args.seed), torch.Generator().manual_seed(args.seed)

    @torch.no_grad()
    def scores(images: np.ndarray, caption_idx: np.ndarray) -> torch.Tensor:
        batch = train.batch(caption_idx)
        return method.pair_scores(model, train.image_tensor(images), batch.tokens, batch.lengths)

    probe = np.random.default_rng(args.seed + 1)
    pairs = [probe.choice(train.n_pairs, b, replace=False) for _ in range(args.batches)]
    diagonal = [(scores(train.pair_image[p], p), train.true_matched[p]) for p in pairs]
    noisy_batches = []
    for _ in range(args.batches):
        nidx = probe.choice(noisy_idx, b, replace=False)
        noisy_batches.append((scores(train.pair_image[nidx], nidx),
                              truth.compatibility(nidx, train.pair_image[nidx]).T if truth is not None else None))
    mask = diagonal_mask(b, b)
    net = LearnableCost(b)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)

    def report(step: int) -> None:
        with torch.no_grad():
            cost = torch.cat([net(s).diagonal() for s, _ in diagonal]).numpy()
            matched = np.concatenate([m for _, m in diagonal])
            sums = RematchSums()
            for similarity, fits in noisy_batches:
                c = net(similarity)
                res = partial_ot(c, mass=rho, eps=args.lam, mask=mask, tol=1e-6, max_iter=5000)
                sums = sums + batch_rematch_stats(res.plan.numpy(), similarity.numpy(), c.numpy(), rho=rho,
                                                  mask=mask.numpy(), fits=fits, learned_cost=True)
        _emit({"run": str(args.run_dir), "cost_lr": args.lr, "lam": args.lam, "step": step,
               "cost_median_matched": round(float(np.median(cost[matched])), 4),
               "cost_median_mismatched": round(float(np.median(cost[~matched])), 4),
               **_summary(sums), "cost_drift": round(sums.summary().get("cost_drift", 0.0), 4)})

    queue = rng.choice(noisy_idx, b)
    for step in range(max(args.steps) + 1):
        if step in args.steps:
            report(step)
        clean = rng.choice(clean_idx, b, replace=False)
        sup = build_cost_supervision(b, b, generator=generator)
        images = train.pair_image[queue].copy()
        images[sup.slots.numpy()] = train.pair_image[clean][sup.captions.numpy()]
        loss = cost_supervision_loss(net(scores(images, clean)), sup.pi_sup)["cost_loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        queue = rng.choice(noisy_idx, b)


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("realism")
    p.add_argument("--skews", type=_floats, default=[0.0, 0.8, 1.0, 1.2])
    p.add_argument("--size", default="small")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default="data")
    p = sub.add_parser("oracle")
    p.add_argument("--skews", type=_floats, default=[0.0, 1.0])
    p.add_argument("--size", default="small")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--batches", type=int, default=200)
    p = sub.add_parser("resolve")
    p.add_argument("run_dir")
    p.add_argument("--lams", type=_floats, default=[0.07, 0.01, 0.003, 0.001])
    p.add_argument("--last", type=int, default=3, help="re-solve the batches of the last N saved epochs")
    p = sub.add_parser("cost")
    p.add_argument("run_dir")
    p.add_argument("--lr", type=float, default=8e-5)
    p.add_argument("--lam", type=float, default=0.01)
    p.add_argument("--steps", type=lambda s: sorted(int(x) for x in s.split(",")), default=[0, 200, 600])
    p.add_argument("--batches", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    {"realism": cmd_realism, "oracle": cmd_oracle, "resolve": cmd_resolve, "cost": cmd_cost}[args.command](args)


if __name__ == "__main__":
    main()
