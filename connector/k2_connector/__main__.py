"""`python -m k2_connector` is `k2-connector` (the container's entry point)."""

import sys

from k2_connector.cli import connector_main

sys.exit(connector_main())
