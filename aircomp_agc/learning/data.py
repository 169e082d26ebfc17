"""Datasets for training under aggregation error: bundled real data and synthetic generators.

Real data ships with scikit-learn (no download at run time): ``"digits"`` (8x8 images, 10
classes), ``"breast-cancer"`` (binary), ``"diabetes"`` (regression), ``"wine"`` (3 classes).
Synthetic: ``"linear"`` (a linear model whose feature covariance has a chosen condition
number) and ``"fedprox"`` (the synthetic(alpha, beta) non-IID generator of Li et al.,
"Federated optimization in heterogeneous networks", MLSys 2020).

Every dataset is split into a training and a test part; features are standardized with the
mean and standard deviation of the **training** part only (regression targets too).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._checks import check_int, check_real, resolve_rng, suggest

__all__ = ["DATASETS", "Dataset", "load_dataset"]

#: Dataset names and their task.
DATASETS = {
    "digits": "multiclass",
    "breast-cancer": "binary",
    "diabetes": "regression",
    "wine": "multiclass",
    "linear": "regression",
    "fedprox": "multiclass",
}


@dataclass(frozen=True)
class Dataset:
    """A train/test split with standardized features.

    Attributes
    ----------
    X_train, X_test : float64 [n, d]
    y_train, y_test : [n]
        Float targets (regression) or int labels ``0..n_classes-1``.
    task : {"regression", "binary", "multiclass"}
    n_classes : int
        0 for regression.
    name : str
    groups : int [n_train] or None
        Natural client of each training sample (``"fedprox"``), else ``None``.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: str
    n_classes: int
    name: str
    groups: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])


def _sklearn(name: str):
    from sklearn import datasets

    loader = {
        "digits": datasets.load_digits,
        "breast-cancer": datasets.load_breast_cancer,
        "diabetes": datasets.load_diabetes,
        "wine": datasets.load_wine,
    }[name]
    data = loader()
    return np.asarray(data.data, dtype=np.float64), np.asarray(data.target)


def _linear(n_samples: int, n_features: int, condition_number: float, noise: float,
            gen: np.random.Generator):
    """``y = X w + noise`` with feature covariance eigenvalues log-spaced over
    ``[1/condition_number, 1]``."""
    eig = np.logspace(0, -np.log10(condition_number), n_features)
    q, _ = np.linalg.qr(gen.standard_normal((n_features, n_features)))
    X = (gen.standard_normal((n_samples, n_features)) * np.sqrt(eig)) @ q.T
    w = gen.standard_normal(n_features)
    return X, X @ w + noise * gen.standard_normal(n_samples)


def _fedprox(n_clients: int, samples_per_client: int, alpha: float, beta: float,
             n_features: int, n_classes: int, gen: np.random.Generator):
    """synthetic(alpha, beta): client ``c`` draws ``u_c ~ N(0, alpha)`` and
    ``W_c, b_c ~ N(u_c, 1)`` (model heterogeneity), ``B_c ~ N(0, beta)`` and features
    ``x ~ N(v_c, Sigma)`` with ``v_c ~ N(B_c, 1)``, ``Sigma_jj = j^{-1.2}`` (data
    heterogeneity); labels ``argmax softmax(W_c x + b_c)``."""
    u = gen.normal(0.0, np.sqrt(alpha), n_clients)
    big_b = gen.normal(0.0, np.sqrt(beta), n_clients)
    W = gen.normal(u[:, None, None], 1.0, (n_clients, n_classes, n_features))
    b = gen.normal(u[:, None], 1.0, (n_clients, n_classes))
    v = gen.normal(big_b[:, None], 1.0, (n_clients, n_features))
    sd = np.arange(1, n_features + 1) ** -0.6
    X = v[:, None, :] + gen.standard_normal((n_clients, samples_per_client, n_features)) * sd
    logits = np.einsum("cnd,ckd->cnk", X, W) + b[:, None, :]
    y = logits.argmax(-1)
    groups = np.repeat(np.arange(n_clients), samples_per_client)
    return X.reshape(-1, n_features), y.ravel(), groups


def load_dataset(name: str, *, test_size: float = 0.25, n_samples: int = 2000,
                 n_features: int = 20, condition_number: float = 100.0, noise: float = 0.1,
                 alpha: float = 1.0, beta: float = 1.0, n_clients: int = 30,
                 n_classes: int = 10, rng=None) -> Dataset:
    """Load a dataset by name, split it and standardize it on the training part.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    test_size : float in (0, 1)
        Fraction held out for testing (stratified for classification).
    n_samples, n_features, condition_number, noise
        ``"linear"`` only.
    alpha, beta, n_clients, n_classes, n_features
        ``"fedprox"`` only (``n_samples // n_clients`` samples per client).
    rng : None, int, SeedSequence or Generator
        Split (and synthetic data) randomness.
    """
    owner = "load_dataset"
    if name not in DATASETS:
        raise ValueError(f"The 'name' parameter of {owner} must be one of "
                         f"{', '.join(map(repr, DATASETS))}; got {name!r}."
                         f"{suggest(name, DATASETS)}")
    test_size = check_real("test_size", test_size, low=0.0, high=1.0, low_open=True,
                           high_open=True, owner=owner)
    gen = resolve_rng(rng)
    groups = None
    info: dict = {}
    if name == "linear":
        X, y = _linear(check_int("n_samples", n_samples, low=4, owner=owner),
                       check_int("n_features", n_features, low=1, owner=owner),
                       check_real("condition_number", condition_number, low=1.0, owner=owner),
                       check_real("noise", noise, low=0.0, owner=owner), gen)
        info["condition_number"] = condition_number
    elif name == "fedprox":
        n_clients = check_int("n_clients", n_clients, low=1, owner=owner)
        X, y, groups = _fedprox(n_clients, max(2, n_samples // n_clients),
                                check_real("alpha", alpha, low=0.0, owner=owner),
                                check_real("beta", beta, low=0.0, owner=owner),
                                check_int("n_features", n_features, low=1, owner=owner),
                                check_int("n_classes", n_classes, low=2, owner=owner), gen)
        y = np.unique(y, return_inverse=True)[1]
        info.update(alpha=alpha, beta=beta)
    else:
        X, y = _sklearn(name)
    task = DATASETS[name]
    from sklearn.model_selection import train_test_split

    idx = np.arange(X.shape[0])
    stratify = y if task != "regression" and np.min(np.bincount(y.astype(int))) >= 2 else None
    tr, te = train_test_split(idx, test_size=test_size, stratify=stratify,
                              random_state=int(gen.integers(2**31 - 1)))
    mu, sd = X[tr].mean(0), X[tr].std(0)
    sd = np.where(sd > 0, sd, 1.0)
    Xs = (X - mu) / sd
    y = np.asarray(y)
    if task == "regression":
        y = y.astype(np.float64)
        ym, ys = y[tr].mean(), y[tr].std() or 1.0
        y = (y - ym) / ys
        n_cls = 0
    else:
        y = y.astype(np.int64)
        n_cls = int(y.max()) + 1
    return Dataset(Xs[tr], y[tr], Xs[te], y[te], task, n_cls, name,
                   None if groups is None else groups[tr], info)
