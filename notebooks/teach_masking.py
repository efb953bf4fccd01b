# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python (workbench)
#     language: python
#     name: workbench
# ---

# %% [markdown]
# # Why L2RM masks the positives (Eq. 8)
#
# L2RM rematches the pairs its split calls *mismatched*. Inside such a batch, image $i$ arrives paired with
# caption $i$ — the pairing the split distrusts. But the model was trained on that very pair, often long
# enough to *memorise* it, so $S_{ii}$ is high and the cost $C_{ii}$ low: left alone, optimal transport would
# put its mass back on the diagonal and "rematch" each pair to itself. Eq. 8 forbids it,
#
# $$M_{ij} = \begin{cases} 0 & i = j \\ 1 & \text{otherwise,}\end{cases}\qquad \tilde\pi = M \odot \pi,$$
#
# so the plan must look elsewhere. This notebook draws a batch of mismatched pairs from the synthetic set,
# where the scene truth says which captions *really* fit which images, and follows the mass.

# %% tags=["parameters"]
batch_size: int = 128  # pairs in the noisy batch (the paper's B)
mrate: float = 0.6  # mismatching rate of the training set
memorised: float = 0.5  # similarity a memorised (mismatched) pair gains on the diagonal
rho: float = 0.1  # partial transport mass
lam: float = 0.07  # Sinkhorn regularisation (CPU presets; Flickr30K uses 0.01)
threads: int = 1  # torch threads (small problems: more threads only add overhead)
seed: int = 0  # seed of the data, the mismatch and the batch

# %%
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch

from workbench import teaching, viz
from workbench.data.synthetic_generate import generate
from workbench.ot import LearnableCost, diagonal_mask, partial_ot

torch.set_num_threads(threads)

train = generate("tiny", seed)["train"]
batch = teaching.noisy_batch(train, mrate=mrate, batch_size=batch_size, seed=seed)
off_diagonal = ~np.eye(batch_size, dtype=bool)
print(f"{batch_size} mismatched pairs; {int(batch.fits[off_diagonal].sum())} off-diagonal (image, caption) "
      f"cells truly fit; {int(batch.fits.any(1).sum())} images have a fitting caption in the batch")
pd.DataFrame({"image": batch.images[:5], "paired caption (mismatched)": batch.texts[:5],
              "a caption of the batch that fits it": [batch.texts[row.argmax()] if row.any() else "—"
                                                     for row in batch.fits[:5]]})

# %% [markdown]
# ## A model that has memorised its pairs
#
# We stand in for the retrieval model with a similarity we control: the fraction of a caption's statements
# true of the image (`scene_overlap`: 1 when it fits, near 0 for unrelated pairs), scaled to 0.5, plus
# `memorised` on the diagonal and a little noise,
#
# $$S = 0.5\,\mathrm{overlap} + \text{memorised}\cdot I + 0.05\,\mathcal{N}(0, 1).$$
#
# The transport cost is L2RM's learnable cost at its initialisation, $f_c(S) = \mathrm{ReLU}(1 - S)$.

# %%
def similarity(bonus):
    """The stand-in model's similarity, with ``bonus`` added to the memorised (diagonal) pairs."""
    noise = 0.05 * np.random.default_rng(seed).standard_normal((batch_size, batch_size))
    return 0.5 * batch.overlap + bonus * np.eye(batch_size) + noise


S = similarity(memorised)
cost = LearnableCost(batch_size)(torch.as_tensor(S, dtype=torch.float32)).detach()
print(f"mean S: memorised diagonal {np.diag(S).mean():.2f}, truly fitting cells {S[batch.fits].mean():.2f}, "
      f"other cells {S[off_diagonal & ~batch.fits].mean():.2f}")

# %% [markdown]
# ## Partial OT with and without the mask
#
# Same cost, same ρ and λ; the only difference is $M$. `diagonal` is the share of the transported mass that
# goes back to the batch's own (mismatched) pairs, `fitting` the share on captions that truly fit the image.

# %%
mask = diagonal_mask(batch_size)
plans = {"without mask": partial_ot(cost, mass=rho, eps=lam),
         "with mask (Eq. 8)": partial_ot(cost, mass=rho, eps=lam, mask=mask)}
shares = {name: vars(teaching.mass_breakdown(r.plan.numpy(), batch.fits)) for name, r in plans.items()}
assert shares["with mask (Eq. 8)"]["diagonal"] == 0.0  # masked cells are exactly 0
pd.DataFrame(shares).T.round(3)

# %%
for name, r in plans.items():
    used = None if name == "without mask" else mask.numpy()
    record = teaching.alignment_record(batch, cost.numpy(), r, mask=used, rho=rho)
    viz.alignment_heatmaps(record, rows=40, cols=40, title=f"{name}: the first 40 pairs of the batch").show()

# %% [markdown]
# Even with the mask, part of the mass lands on captions that do not fit ("other"): few off-diagonal cells
# fit at all (counted above), and the entropic plan spreads a little. That is why ρ is small — only the most
# confident rematches should carry real mass.
#
# ## The stronger the memorisation, the more the unmasked plan re-confirms the noise
#
# Sweeping the diagonal bonus: once memorised pairs look as similar as truly fitting ones (≈ 0.5 here), the
# unmasked plan sends most of its mass back to the diagonal. The masked plan is unaffected — the diagonal
# is simply not an option. (At MRate 0 there is nothing to distrust, and the paper switches the mask off.)

# %%
rows = []
for bonus in np.linspace(0.0, 0.8, 9):
    c = LearnableCost(batch_size)(torch.as_tensor(similarity(bonus), dtype=torch.float32)).detach()
    for name, m in (("without mask", None), ("with mask", mask)):
        b = teaching.mass_breakdown(partial_ot(c, mass=rho, eps=lam, mask=m).plan.numpy(), batch.fits)
        rows.append({"memorised": bonus, "plan": name, "diagonal": b.diagonal, "fitting": b.fitting})
sweep = pd.DataFrame(rows)
assert sweep.loc[sweep["plan"] == "without mask", "diagonal"].is_monotonic_increasing
assert (sweep.loc[sweep["plan"] == "with mask", "diagonal"] == 0).all()
fig = go.Figure()
for (name, share), part in sweep.melt(["memorised", "plan"], var_name="share").groupby(["plan", "share"]):
    fig.add_trace(go.Scatter(x=part["memorised"], y=part["value"], mode="lines+markers",
                             name=f"{name}: {share}", line_dash="solid" if share == "fitting" else "dot"))
fig.update_layout(template=viz.TEMPLATE, title="Where the transported mass goes", height=380,
                  xaxis_title="memorised bonus", yaxis_title="share of the transported mass",
                  yaxis_range=[0, 1.02])
fig
