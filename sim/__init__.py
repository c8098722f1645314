"""Simulation builds of the generated RTL: Verilog from Amaranth, then cocotb on Verilator or Icarus."""
