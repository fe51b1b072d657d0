"""Generate the default engine and co-simulate it against the golden model (see README.md)."""

import sys
import tempfile

from pqaccel.api import generate, preset, run_cosim


def main(sim="icarus"):
    with tempfile.TemporaryDirectory(prefix="pqaccel-example-") as tmp:
        files = generate(preset("default"), tmp)
        result = run_cosim(
            files["verilog"],
            files["manifest"],
            sim=sim,
            layers=[{"d": 32, "m": 8, "n": 50, "in_gap": 0.3, "out_stall": 0.3}],
        )
    layer = result["layers"][0]
    print(f"{sim}: mismatches {layer['mismatches']}, cycles/row {layer['cycles_per_row']:.2f}")
    return 1 if layer["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
