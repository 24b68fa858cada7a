"""Shared fixtures: small generated problems and the built `strads` binary."""

import os
import pathlib
import shutil

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def strads_binary():
    """The `strads` binary the CLI comparisons run: $STRADS_BINARY, else the workspace's release
    build (CI builds it before the Python tests), else one on PATH."""
    candidates = [os.environ.get("STRADS_BINARY"), REPO / "target" / "release" / "strads", shutil.which("strads")]
    for candidate in candidates:
        if candidate and pathlib.Path(candidate).is_file():
            return str(candidate)
    pytest.fail("no strads binary: run `cargo build --release` or set STRADS_BINARY")


def regression_problem(n=120, d=40, k=5, noise=0.3, density=0.3, seed=0):
    """A sparse design with a k-sparse truth: X (dense, with zeros), y = X b + noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * (rng.random((n, d)) < density)
    truth = np.zeros(d)
    truth[rng.choice(d, k, replace=False)] = rng.choice([-1, 1], k) * rng.uniform(1, 3, k)
    y = X @ truth + noise * rng.normal(size=n)
    return X, y


def classification_problem(n=200, d=30, k=5, seed=1):
    """Labels in {0, 1} drawn from a logistic model with a k-sparse truth (not separable)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * (rng.random((n, d)) < 0.5)
    truth = np.zeros(d)
    truth[rng.choice(d, k, replace=False)] = rng.choice([-1, 1], k) * rng.uniform(0.5, 1.5, k)
    y = (rng.random(n) < 1 / (1 + np.exp(-X @ truth))).astype(int)
    return X, y


def write_libsvm(path, X, y):
    """X (dense) and y as a libsvm file, 1-based, nonzeros only, values in full precision."""
    with open(path, "w") as out:
        for row, label in zip(X, y):
            entries = " ".join(f"{j + 1}:{float(value)!r}" for j, value in enumerate(row) if value != 0)
            out.write(f"{float(label)!r} {entries}\n")
