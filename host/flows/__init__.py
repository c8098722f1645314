"""Flows that run a generated core: training on the simulated core, verification, core benchmark, bitstream."""
