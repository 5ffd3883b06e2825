#!/usr/bin/env bash
# Slim a Lambda package in place: drop what the runtime provides (boto3), what never runs in
# Lambda (pyarrow's Flight, C headers, Cython sources, tests, caches; not Substrait, which
# pyarrow.lib links) and the debug symbols of shared libraries, as the AWS SDK for pandas
# layer is built. Our own code needs no slimming: functions/ holds only what Lambda runs (the
# dev tools live in devtools/, tests/unit/test_layers.py keeps it so).
# tests/integration/test_sam_cli.py imports every handler from the result.
set -euo pipefail
root=${1:?usage: slim.sh <package dir>}
cd "$root"
rm -rf boto3 boto3-* botocore botocore-* s3transfer s3transfer-* \
	pyarrow/include pyarrow/tests pyarrow/libarrow_flight* pyarrow/_flight*
find . \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' \) -delete
find . -name __pycache__ -type d -prune -exec rm -rf {} +
if command -v strip >/dev/null; then
	find . -name '*.so*' -type f -exec strip --strip-unneeded {} + 2>/dev/null || true
else
	echo "slim.sh: no strip on PATH, shared libraries keep their symbols" >&2
fi
