"""Host side: the `host` command, training targets and benchmarks."""
