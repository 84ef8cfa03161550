"""The small predictors of the downstream test: a 1-D/2-D CNN, a linear model and k nearest neighbours.

They answer one question -- does adding synthetic rows to the training set help a model predict
the label of new real data? -- so they are small, seeded and quick: the default CNN trains in a few
seconds on one CPU thread (~3 s for 170 spectra of 512 points, ~10 s for 500), with a fixed number
of epochs (no early stopping on the test set, which would leak it) and the same schedule for every arm.

Inputs (:func:`features`): each spectrum scaled to [0, 1] (minus its minimum, over its range) and
block-averaged down to at most ``max_points`` points; micrographs as one channel in [0, 1] (label
maps: the phase indicator of phase 1).

* ``cnn`` (default): three convolutions (kernel 7, 5, 5; width w, 2w, 2w with w = 8; GELU), max-pooling by 2
  after the first two (tolerance to shifts of a few channels, the typical calibration error), then
  adaptive average pooling to 32 bins (8 × 8 for images) and a linear read-out. The bins keep the
  coarse position of each feature, which is what identifies a band or a reflection; a global pool
  would throw it away. AdamW, cosine learning-rate decay, dropout 0.2 before the read-out.
* ``linear``: softmax regression (or least squares) on the flattened input, same optimiser.
* ``knn``: cosine similarity to every training row; the class of the nearest (k = 1) or, for a
  regression, the mean of the k nearest targets. No training: a baseline that shows whether
  synthetic rows add new, correctly labelled neighbours.

Regression targets are standardised with the training mean and standard deviation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from matgen.data.dataset import Dataset
from matgen.errors import MatgenError
from matgen.evaluate.spectra import unit_range

MODELS = ("cnn", "linear", "knn")
TASKS = ("classification", "regression")


@dataclass
class PredictorConfig:
    """How the downstream predictor is built and trained (the same for every arm and seed)."""

    model: str = "cnn"  # cnn, linear or knn (see the module notes)
    epochs: int = 40  # passes over the training rows (cnn, linear); fixed, no early stopping
    batch_size: int = 32  # rows per optimiser step
    lr: float = 1e-2  # peak AdamW learning rate, cosine decay to 0
    weight_decay: float = 1e-2  # AdamW weight decay
    width: int = 8  # channels of the first convolution (cnn)
    max_points: int = 512  # spectra are block-averaged down to at most this many points
    neighbours: int = 1  # k of knn (a regression averages the k nearest targets)
    seed: int = 0  # initial weights and batch order

    def check(self) -> "PredictorConfig":
        if self.model not in MODELS:
            raise MatgenError(f"unknown downstream model '{self.model}'; choose from {', '.join(MODELS)}")
        if self.epochs < 1 or self.batch_size < 1 or self.neighbours < 1 or self.max_points < 8:
            raise MatgenError("epochs, batch size and neighbours must be at least 1, max_points at least 8")
        return self


def features(ds: Dataset, max_points: int = 512) -> np.ndarray:
    """(N, 1, L') float32 spectra in [0, 1] block-averaged to L' <= max_points, or (N, 1, H, W) micrographs in [0, 1]."""
    if ds.is_spectrum:
        x = unit_range(ds.signals)
        factor = math.ceil(x.shape[1] / max_points)
        if factor > 1:
            usable = x.shape[1] // factor * factor
            x = x[:, :usable].reshape(len(x), -1, factor).mean(axis=2)
        return x[:, None].astype(np.float32)
    images = ds.signals[:, 0] if ds.signals.ndim == 4 else ds.signals
    if ds.signal_type == "labels":
        images = images == 1
    return np.asarray(images, dtype=np.float32)[:, None]


def _cnn(rank: int, out: int, width: int):
    import torch.nn as nn

    conv, pool = (nn.Conv1d, nn.MaxPool1d) if rank == 1 else (nn.Conv2d, nn.MaxPool2d)
    adaptive, bins = (nn.AdaptiveAvgPool1d, 32) if rank == 1 else (nn.AdaptiveAvgPool2d, 8)
    return nn.Sequential(
        conv(1, width, 7, padding=3), nn.GELU(), pool(2),  # (B, w, L/2)
        conv(width, 2 * width, 5, padding=2), nn.GELU(), pool(2),  # (B, 2w, L/4)
        conv(2 * width, 2 * width, 5, padding=2), nn.GELU(), adaptive(bins),  # (B, 2w, 32) or (B, 2w, 8, 8)
        nn.Flatten(), nn.Dropout(0.2), nn.Linear(2 * width * bins**rank, out),
    )


def _linear(shape: tuple, out: int):
    import torch.nn as nn

    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(shape)), out))


class Predictor:
    """A fitted downstream model: ``predict(x)`` gives class codes (classification) or targets (regression)."""

    def __init__(self, task: str, net=None, memory: tuple[np.ndarray, np.ndarray] | None = None,
                 scale: tuple[float, float] = (0.0, 1.0), neighbours: int = 1):
        self.task, self.net, self.memory, self.scale, self.neighbours = task, net, memory, scale, neighbours

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(N,) int class codes or float targets (in the label's unit) for features x (N, 1, ...); (N, K) for a
        regressor fitted on K targets at once."""
        if self.memory is not None:
            return self._nearest(x)
        import torch

        self.net.eval()
        with torch.no_grad():
            out = torch.cat([self.net(torch.as_tensor(x[i:i + 256])) for i in range(0, len(x), 256)])
        if self.task == "classification":
            return out.argmax(dim=1).numpy()
        values = out.double().numpy() * np.asarray(self.scale[1]) + np.asarray(self.scale[0])  # (N, K)
        return values[:, 0] if np.ndim(self.scale[0]) == 0 else values

    def _nearest(self, x: np.ndarray) -> np.ndarray:
        train_x, train_y = self.memory
        a = x.reshape(len(x), -1).astype(np.float64)
        similarity = (a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)) @ train_x.T
        nearest = np.argsort(-similarity, axis=1, kind="stable")[:, : self.neighbours]
        if self.task == "classification":
            votes = train_y[nearest].astype(int)
            return np.asarray([np.bincount(v).argmax() for v in votes])
        return train_y[nearest].mean(axis=1)


def fit(x: np.ndarray, y: np.ndarray, task: str, n_classes: int = 0, config: PredictorConfig = PredictorConfig()) -> Predictor:
    """Train the configured model on features x (N, 1, ...) and labels y (N,): class codes 0..n_classes-1 or targets
    (a regression may also fit K targets at once, y (N, K), each standardised on its own).

    Seeded by ``config.seed``: the same inputs give the same predictor.
    """
    config.check()
    if task not in TASKS:
        raise MatgenError(f"unknown task '{task}'; choose from {', '.join(TASKS)}")
    if len(x) == 0:
        raise MatgenError("no training rows")
    if config.model == "knn":
        flat = x.reshape(len(x), -1).astype(np.float64)
        flat = flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-12)
        return Predictor(task, memory=(flat, np.asarray(y)), neighbours=config.neighbours)
    import torch

    torch.manual_seed(config.seed)
    y = np.asarray(y)
    out = n_classes if task == "classification" else (y.shape[1] if y.ndim == 2 else 1)
    net = _cnn(x.ndim - 2, out, config.width) if config.model == "cnn" else _linear(x.shape[1:], out)
    scale = (0.0, 1.0)
    if task == "regression":
        y = np.asarray(y, dtype=np.float64)
        mean, std = y.mean(axis=0), y.std(axis=0)
        scale = (mean, np.where(std > 0, std, 1.0)) if y.ndim == 2 else (float(mean), float(std) or 1.0)
        column = (y - scale[0]) / scale[1]
        target = torch.as_tensor(column if y.ndim == 2 else column[:, None], dtype=torch.float32)
        loss_fn = torch.nn.functional.mse_loss
    else:
        target = torch.as_tensor(np.asarray(y), dtype=torch.long)
        loss_fn = torch.nn.functional.cross_entropy
    inputs = torch.as_tensor(x)
    steps_per_epoch = math.ceil(len(x) / config.batch_size)
    total = config.epochs * steps_per_epoch
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / total)))
    generator = torch.Generator().manual_seed(config.seed)
    net.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(x), generator=generator)
        for k in range(steps_per_epoch):
            batch = order[k * config.batch_size:(k + 1) * config.batch_size]
            loss = loss_fn(net(inputs[batch]), target[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return Predictor(task, net=net, scale=scale)


def score(task: str, predicted: np.ndarray, truth: np.ndarray) -> float:
    """Accuracy (classification, fraction correct) or mean absolute error (regression, the label's unit)."""
    if task == "classification":
        return float(np.mean(np.asarray(predicted) == np.asarray(truth)))
    return float(np.mean(np.abs(np.asarray(predicted, dtype=np.float64) - np.asarray(truth, dtype=np.float64))))
