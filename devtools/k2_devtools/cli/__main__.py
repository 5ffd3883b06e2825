"""`python -m k2_devtools.cli ...` is `k2 ...`."""

import sys

from k2_devtools.cli.main import main

sys.exit(main())
