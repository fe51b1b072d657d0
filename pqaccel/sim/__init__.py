"""cocotb co-simulation of the emitted Verilog (installed as ``pqaccel.sim``)."""
