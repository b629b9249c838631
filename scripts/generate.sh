#!/usr/bin/env bash
# Regenerates everything generated that is checked in: the stubs under
# testdata/gen and example/gen, and the generator's goldens.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
rm -rf testdata/gen example/gen
buf generate
buf generate --template testdata/buf.gen.samepkg.yaml
go test ./gen -run 'TestGolden' -update >/dev/null
