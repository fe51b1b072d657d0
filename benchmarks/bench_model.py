"""Golden-model throughput on a ResNet20-sized layer (N=1024, D=144, M=16, K=16).

Usage: python benchmarks/bench_model.py [--repeat R]
"""

import argparse
import time

import numpy as np

from pqaccel.engines.pq import model
from pqaccel.engines.pq.config import EngineConfig
from pqaccel.config import LayerConfig, Parallelism, Widths


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    layer = LayerConfig(d=144, m=16, n=1024)
    rng = np.random.default_rng(0)
    for metric in ("l1", "l2", "chebyshev"):
        cfg = EngineConfig(
            v=9,
            k=16,
            c_max=16,
            m_max=16,
            metric=metric,
            par=Parallelism(c_par=4, k_par=16, m_par=16),
            widths=Widths(),
        )
        protos, lut = model.random_tables(cfg, layer, rng)
        x = model.random_inputs(cfg, layer, rng)
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            model.forward(cfg, x, protos, lut)
            best = min(best, time.perf_counter() - t0)
        print(
            f"{metric:<10} N={layer.n} D={layer.d} M={layer.m} K={cfg.k} V={cfg.v}: "
            f"{best * 1e3:7.2f} ms  {layer.n / best:12,.0f} rows/s"
        )


if __name__ == "__main__":
    main()
