#!/usr/bin/env bash
# Mutation testing of the rules that decide trust (Stryker.NET, pinned in .config/dotnet-tools.json; config:
# stryker-config.json): the certificate profile, host names, trust evaluation and classification, pins, trust on first
# use, master addresses. Too slow for every CI run on 2 cores: run it weekly or before a release. The slow end-to-end
# classes (compatibility corpus, bad-certificate matrix, fuzzing, reliability) are left out of mutant runs (test-case-filter):
# the score says what the targeted unit and handshake tests catch.
#   bash eng/mutation.sh                 # everything in stryker-config.json, 3-hour budget
#   bash eng/mutation.sh --quick         # one file (CertificatePin.cs), minutes
#   MUTATION_BUDGET=2h bash eng/mutation.sh -m '**/HostNames.cs'   # extra arguments go to dotnet stryker
# Report: tests/Determined.Security.Tests/StrykerOutput/<date>/reports/mutation-report.html; score in docs/TESTING.md.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dotnet tool restore >/dev/null || { echo "error: 'dotnet tool restore' failed" >&2; exit 2; }
args=()
if [ "${1:-}" = "--quick" ]; then
  shift
  args+=(--mutate '**/Certificates/CertificatePin.cs')
fi
cd tests/Determined.Security.Tests
exec timeout --foreground "${MUTATION_BUDGET:-3h}" dotnet stryker --config-file "$root/stryker-config.json" -p "$root/src/Determined.Security/Determined.Security.csproj" "${args[@]}" "$@"
