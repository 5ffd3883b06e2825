"""The lake's rules, free of AWS: which staged rows are new, and how a lake is reconciled
against a source."""
