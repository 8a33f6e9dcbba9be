#!/usr/bin/env bash
# The test command (README's second command; .ci/run calls it): checks the tools the tests cross-check TLS with, installs
# the missing ones with apt-get when it can (root), otherwise prints the one command that installs them and exits 2 before
# any test runs; then runs every test with coverage (coverlet.collector, coverlet.runsettings), prints coverage per area of
# src/ and fails when one is below its floor (eng/coverage-floors.txt); HTML report in artifacts/coverage/html.
# Then the Windows leg (eng/windows-leg.sh: the Security and Sdk suites, published win-x64, under Wine), unless filtered.
# Extra arguments go to 'dotnet test' (e.g. --filter FullyQualifiedName~Profile, --no-build, --logger trx).
# The libraries are built without their ReadyToRun images here: coverlet instruments IL, and precompiled code would not
# report what ran (the packages still carry the images; .ci/run packs them after the tests).
set -uo pipefail
cd "$(dirname "$0")/.."

source "$(dirname "$0")/prerequisites.sh" || exit 2
# Only the Windows leg's selection run may make tests behave as under Wine; left set, it would skip every key-making test.
unset DET_TEST_AS_UNDER_WINE

results=artifacts/test-results
mkdir -p "$results"
find "$results" -name coverage.cobertura.xml -delete 2>/dev/null

listing=false
for arg in "$@"; do [ "$arg" = "--list-tests" ] && listing=true; done
if $listing; then
  exec dotnet test Determined.sln -c Release -p:DeterminedReadyToRun=false "$@"
fi

dotnet tool restore >/dev/null || { echo "error: 'dotnet tool restore' failed (ReportGenerator, Stryker: .config/dotnet-tools.json)" >&2; exit 2; }
dotnet test Determined.sln -c Release -p:DeterminedReadyToRun=false --settings coverlet.runsettings --collect "XPlat Code Coverage" --results-directory "$results" "$@" 2>&1 \
  | tee "$results/dotnet-test.log"
rc=${PIPESTATUS[0]}
# A test process that dies (a stack overflow) can still be summed up as "Passed!" with the tests it had reported:
# xunit's fatal-error line is the only trace, so it fails the run.
if grep -qE '\[FATAL ERROR\]|Test Run Aborted|The active test run was aborted' "$results/dotnet-test.log"; then
  echo "error: a test process died (see '[FATAL ERROR]' above); the counts above are incomplete" >&2
  rc=1
fi

# The Windows leg (about a minute): the suites published win-x64 and run under Wine. Not with a filter: a filtered run
# asks for particular tests.
filtered=false
for arg in "$@"; do [ "$arg" = "--filter" ] && filtered=true; done
if ! $filtered; then
  echo
  bash eng/windows-leg.sh || rc=1
fi

echo
echo "Coverage of src/ (in the test processes; eng/coverage-floors.txt):"
python3 eng/coverage.py "$results"
coverage_rc=$?
dotnet reportgenerator "-reports:$results/**/coverage.cobertura.xml" -targetdir:artifacts/coverage/html "-reporttypes:Html;TextSummary" -verbosity:Warning >/dev/null \
  && echo "HTML report: artifacts/coverage/html/index.html" || echo "warning: ReportGenerator failed; the summary above stands" >&2

[ "$rc" = 0 ] || exit "$rc"
exit "$coverage_rc"
