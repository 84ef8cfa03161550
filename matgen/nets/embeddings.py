"""Embeddings of what a network is told besides the signal: the noise level and the conditions.

* :func:`sinusoidal_embedding` turns a continuous timestep or noise level into a vector
  (Vaswani et al. 2017, sec. 3.5; Ho et al. 2020, app. B).
* :class:`ConditionSpec` describes one condition (name, unit, kind, normalisation, range) and
  is stored as JSON in every checkpoint, so a model knows its conditions and their units.
* :class:`ConditionEncoder` embeds K conditions into one vector (B, D). NaN means "not given":
  such a condition, or one dropped for classifier-free guidance (Ho & Salimans 2022), is replaced
  by its own learned null token, so a user may fix any subset of the conditions at sampling time.

Notation: ``B`` batch, ``K`` conditions, ``D`` embedding width, ``H`` hidden width.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from matgen.common.records import from_record
from matgen.errors import MatgenError

CONDITION_KINDS = ("continuous", "categorical")


def sinusoidal_embedding(t: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """Return the (B, dim) sinusoidal embedding [cos(t f_i), sin(t f_i)] of a (B,) float tensor.

    Frequencies are f_i = max_period^(-i / (dim/2)), i = 0 .. dim/2 - 1, so the fastest one is 1
    rad per unit of t: feed DDPM step indices (0..999) or EDM's c_noise = ln(sigma) / 4 as they
    are. An odd ``dim`` gets one trailing zero.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]  # (B, dim/2)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # (B, 2 * (dim/2))
    return F.pad(emb, (0, dim % 2))  # (B, dim)


@dataclass
class ConditionSpec:
    """One condition a model is trained on; saved as JSON beside the weights."""

    name: str  # condition name as in the dataset, e.g. "anneal_temperature_C"
    kind: str = "continuous"  # "continuous" (a number) or "categorical" (one of n_categories)
    unit: str = ""  # unit of a continuous value ("°C", "GPa"); "" when dimensionless or categorical
    mean: float = 0.0  # training mean, subtracted before embedding (continuous)
    std: float = 1.0  # training standard deviation, divides after the mean (continuous)
    minimum: float | None = None  # smallest training value (continuous): beyond it is extrapolation
    maximum: float | None = None  # largest training value (continuous)
    n_categories: int = 0  # number of categories (categorical); taken from categories when 0
    categories: tuple[str, ...] = ()  # category names (categorical); code i means categories[i]

    def __post_init__(self) -> None:
        self.categories = tuple(str(c) for c in self.categories)
        if self.kind not in CONDITION_KINDS:
            kinds = ", ".join(CONDITION_KINDS)
            raise MatgenError(f"condition '{self.name}': unknown kind '{self.kind}'; choose from {kinds}")
        if self.kind == "categorical":
            self.n_categories = self.n_categories or len(self.categories)
            if self.n_categories < 1:
                raise MatgenError(f"categorical condition '{self.name}' needs n_categories >= 1 or category names")
            if self.categories and len(self.categories) != self.n_categories:
                raise MatgenError(
                    f"condition '{self.name}': {len(self.categories)} category names for n_categories={self.n_categories}"
                )
        elif not (math.isfinite(self.std) and self.std > 0):
            raise MatgenError(f"condition '{self.name}': std must be a positive number, got {self.std}")

    @classmethod
    def from_values(
        cls, name: str, values: np.ndarray, unit: str = "", categories: Sequence[str] | None = None
    ) -> "ConditionSpec":
        """The spec of a training column: NaN-aware mean/std/range (continuous), or its categories.

        Args:
            values: (N,) floats with NaN for unknown; ignored when ``categories`` is given.
            categories: category names, making the condition categorical.
        """
        if categories is not None:
            return cls(name, "categorical", categories=tuple(categories))
        known = np.asarray(values, dtype=np.float64)
        known = known[np.isfinite(known)]
        if known.size == 0:
            raise MatgenError(f"condition '{name}' has no known value to take statistics from")
        std = float(known.std()) if known.size > 1 and known.std() > 0 else 1.0
        return cls(name, "continuous", unit, float(known.mean()), std, float(known.min()), float(known.max()))

    def to_dict(self) -> dict:
        """A JSON-ready dict (categories as a list)."""
        d = asdict(self)
        d["categories"] = list(self.categories)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ConditionSpec":
        """The spec saved by :meth:`to_dict`.

        Raises:
            MatgenError: a key is not a ConditionSpec field.
        """
        return from_record(cls, d, "ConditionSpec field")


def random_drop_mask(
    batch: int, n_conditions: int, p: float = 0.15, generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Return a (B, K) bool mask, True with probability ``p`` independently per sample and condition.

    Used in training so the model learns every subset of conditions, including none, which is
    what classifier-free guidance and partial targets need at sampling time.
    """
    return torch.rand(batch, n_conditions, generator=generator, device=device) < p  # (B, K)


class ConditionEncoder(nn.Module):
    """Embeds K conditions (B, K) into (B, D); unknown or dropped ones become their null token.

    Continuous condition k: z = (value - mean_k) / std_k, then its own MLP
    1 -> H -> D (H = D), SiLU in between. Categorical condition k: the float code (0 .. n-1) picks
    a row of its own embedding table. Each condition has a learned null token (D,) used where its
    value is NaN, where a categorical code is negative (-1, as stored in the dataset), or where
    ``drop`` is True. The K embeddings are summed.

    Codes must be whole numbers below n_categories; names are turned into codes (and checked)
    by the caller, which knows the names.
    """

    def __init__(self, specs: Sequence[ConditionSpec], dim: int) -> None:
        super().__init__()
        self.specs = list(specs)
        self.dim = dim
        continuous = [k for k, s in enumerate(self.specs) if s.kind == "continuous"]
        categorical = [k for k, s in enumerate(self.specs) if s.kind == "categorical"]
        n_cont, n_cat = len(continuous), sum(self.specs[k].n_categories for k in categorical)
        offsets = np.cumsum([0] + [self.specs[k].n_categories for k in categorical])[:-1]
        self.register_buffer("continuous_index", torch.tensor(continuous, dtype=torch.long), persistent=False)
        self.register_buffer("categorical_index", torch.tensor(categorical, dtype=torch.long), persistent=False)
        self.register_buffer("offset", torch.tensor(offsets, dtype=torch.long), persistent=False)
        mean, std = [self.specs[k].mean for k in continuous], [self.specs[k].std for k in continuous]
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32), persistent=False)  # (Kc,), from the specs
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32), persistent=False)  # (Kc,)
        # one MLP per continuous condition, batched over conditions: z (B, Kc) -> (B, Kc, D)
        self.w1 = nn.Parameter(torch.randn(n_cont, dim))
        self.b1 = nn.Parameter(torch.zeros(n_cont, dim))
        self.w2 = nn.Parameter(torch.randn(n_cont, dim, dim) / math.sqrt(dim))
        self.b2 = nn.Parameter(torch.zeros(n_cont, dim))
        self.table = nn.Embedding(n_cat, dim)  # all categorical conditions, each in its own row range
        self.null = nn.Parameter(torch.randn(len(self.specs), dim))  # (K, D)

    def forward(self, values: Tensor, drop: Tensor | None = None) -> Tensor:
        """Return the (B, D) embedding of (B, K) float condition values; ``drop`` (B, K) bool."""
        B, K = values.shape
        if K != len(self.specs):
            names = ", ".join(s.name for s in self.specs)
            raise MatgenError(f"got {K} condition values per sample; this model takes {len(self.specs)}: {names}")
        values = values.to(self.null.dtype)
        missing = torch.isnan(values)  # (B, K)
        if drop is not None:
            missing = missing | drop
        emb = values.new_empty(B, K, self.dim)  # (B, K, D)
        if len(self.continuous_index):
            z = (values[:, self.continuous_index] - self.mean) / self.std  # (B, Kc)
            z = torch.where(missing[:, self.continuous_index], 0.0, z)  # NaN would poison the gradients
            h = F.silu(z[:, :, None] * self.w1 + self.b1)  # (B, Kc, H)
            emb[:, self.continuous_index] = torch.einsum("bkh,khd->bkd", h, self.w2) + self.b2  # (B, Kc, D)
        if len(self.categorical_index):
            code = values[:, self.categorical_index]  # (B, Kg)
            missing[:, self.categorical_index] = missing[:, self.categorical_index] | (code < 0)
            code = torch.where(missing[:, self.categorical_index], 0.0, code).long()
            emb[:, self.categorical_index] = self.table(code + self.offset)  # (B, Kg, D)
        emb = torch.where(missing[:, :, None], self.null, emb)  # (B, K, D)
        return emb.sum(dim=1)  # (B, D)

    def null_embedding(self, batch: int) -> Tensor:
        """Return the (B, D) embedding with every condition unknown (the unconditional model)."""
        return self.null.sum(dim=0).expand(batch, -1)  # (B, D)
