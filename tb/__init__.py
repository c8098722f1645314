"""cocotb testbenches of the generated RTL."""
