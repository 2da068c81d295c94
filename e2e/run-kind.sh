#!/usr/bin/env bash
# Run the end-to-end test on a machine with Docker. It creates a kind
# cluster, builds the image and loads it into the cluster, and installs the
# chart with a two-shard StatsdCluster. Then it sends StatsD from a pod,
# scales the StatsdCluster to three shards and back, and checks the ring and
# what the shards flushed.
#
# Needs: a running Docker engine, kind, kubectl, and the test virtualenv from
# scripts/install-test-deps (helm comes from .deps/bin or PATH).
# Environment: STATSD_E2E_CLUSTER (kind cluster name), STATSD_E2E_REUSE=1
# (reuse an existing cluster), STATSD_E2E_KEEP=1 (keep the cluster afterwards).
# Extra arguments go to pytest, for example: e2e/run-kind.sh -k scale
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in docker kind kubectl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "run-kind: $tool is not on PATH; install it and run again" >&2
        exit 2
    fi
done
if ! docker info >/dev/null 2>&1; then
    echo "run-kind: no Docker engine answers 'docker info'; start Docker and run again" >&2
    exit 2
fi
if [ ! -x .venv/bin/pytest ]; then
    echo "run-kind: .venv/bin/pytest is missing; run scripts/install-test-deps first" >&2
    exit 2
fi
scripts/install-helm

exec .venv/bin/pytest e2e -v -rs "$@"
