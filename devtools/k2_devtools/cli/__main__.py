"""`python -m k2_devtools.cli ...` is `k2 ...`."""

import sys

from k2_devtools.cli.main import main

if __name__ == "__main__":  # query workers (spawned) import this module too: run nothing then
    sys.exit(main())
