"""The `host` command's groups: one module each, holding its options (`add`) and its command bodies."""
