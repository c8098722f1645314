"""Golden models of EP on deep resistive networks: float reference and (later) fixed point."""
