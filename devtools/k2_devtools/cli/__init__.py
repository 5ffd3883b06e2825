"""The `k2` command: one module per subcommand, each imported only when it runs (main.py)."""
