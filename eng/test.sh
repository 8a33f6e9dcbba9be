#!/usr/bin/env bash
# The test command (README's second command; .ci/run calls it): checks the tools the tests cross-check TLS with, installs
# the missing ones with apt-get when it can (root), otherwise prints the one command that installs them and exits 2 before
# any test runs; then runs every test. Extra arguments go to 'dotnet test' (e.g. --filter FullyQualifiedName~Profile,
# --no-build, --logger trx).
set -uo pipefail
cd "$(dirname "$0")/.."

source "$(dirname "$0")/prerequisites.sh" || exit 2

results=artifacts/test-results
mkdir -p "$results"
exec dotnet test Determined.sln -c Release --results-directory "$results" "$@"
