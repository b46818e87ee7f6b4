#!/usr/bin/env bash
# Checks a staged tfjs-node (tools/tfjs-node/stage.sh) the way the package uses it: builds @blastkit/backend-tfjs,
# runs the backend conformance suite on the tfjs-node engine (failing, not skipping, when it cannot be loaded), then
# times matmul and one dense-vs-BLAST layer on the cpu, wasm and tfjs-node engines. A separate command: not part of
# the default test run (it needs the ~1 GB staged folder, and timings belong outside unit tests).
#
#   bash tools/tfjs-node/verify.sh                     # the default staged folder
#   BLASTKIT_TFJS_NODE_DIR=/some/prefix bash tools/tfjs-node/verify.sh
#   ENGINES=tfjs-node,wasm OUT=/tmp/bench.json bash tools/tfjs-node/verify.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export TURBO_TELEMETRY_DISABLED=1
echo "verify.sh: building @blastkit/backend-tfjs" >&2
pnpm exec turbo run build --filter=@blastkit/backend-tfjs... --output-logs=errors-only >&2
cd packages/backend-tfjs
echo "verify.sh: conformance suite on the tfjs-node engine" >&2
BLASTKIT_REQUIRE_TFJS_NODE=1 pnpm exec vitest run test/conformance-tfjs-node.test.ts
echo "verify.sh: matmul and layer timings (load average: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
node bench/matmul.mjs --engines "${ENGINES:-cpu,wasm,tfjs-node}" ${OUT:+--out "$OUT"}
