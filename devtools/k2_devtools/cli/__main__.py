"""`python -m k2_devtools.cli ...` is `k2 ...`."""

from k2_devtools.cli.main import console

if __name__ == "__main__":  # query workers (spawned) import this module too: run nothing then
    console()
