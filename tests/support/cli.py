"""The `k2` command as the tests run it: in a subprocess of this interpreter."""

from __future__ import annotations

import sys

K2 = [sys.executable, "-m", "k2_devtools.cli"]
