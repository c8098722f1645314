"""Bus backends of the driver: the register-level model, the simulated core over cocotb, a PYNQ board."""
