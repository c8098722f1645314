"""Golden models of EP on deep resistive networks: the float reference and the bit-exact fixed-point model."""
