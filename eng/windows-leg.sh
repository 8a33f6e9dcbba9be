#!/usr/bin/env bash
# The Windows leg (called by eng/test.sh, or alone): the Security and Sdk test suites, published win-x64 self-contained
# (xunit.v3 test projects are executables), run under Wine with no .NET on the Windows side.
#   - Wine's CNG cannot make or import private keys, so the Linux side serves the TLS masters the Windows-specific cases
#     talk to (Determined.TestHost windows-fixture; the tests read its manifest from DET_TEST_WINDOWS_FIXTURE), and a test
#     that makes keys in-process is reported as skipped with Wine's behaviour named (tests/Shared/Wine.cs).
#   - Results: artifacts/test-results/windows-<suite>.trx (counted by .ci/run), the console summary below.
# Needs wine64 (eng/prerequisites.sh installs it). Usage: bash eng/windows-leg.sh [--no-publish] [extra xunit arguments]
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

publish=true
[ "${1:-}" = "--no-publish" ] && { publish=false; shift; }

out="$root/artifacts/windows"
results="$root/artifacts/test-results"
mkdir -p "$out" "$results"
wine_bin=$(command -v wine64 || command -v wine || ls /usr/lib/wine/wine64 2>/dev/null) || { echo "error: wine64 is not installed (apt-get install wine64)" >&2; exit 2; }

# A prefix of our own: no user's Wine settings, no gecko/mono installers (no display, no stdin in CI).
export WINEPREFIX="$out/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" DOTNET_CLI_TELEMETRY_OPTOUT=1
unset DISPLAY WAYLAND_DISPLAY

suites=(Determined.Security.Tests Determined.Sdk.Tests)
if $publish; then
  for project in "${suites[@]}" Determined.TestHost; do
    dotnet publish "tests/$project" -c Release -r win-x64 --self-contained -p:DeterminedReadyToRun=false -p:TreatWarningsAsErrors=true \
      -o "$out/$project" -v quiet -nologo >"$out/publish-$project.log" 2>&1 \
      || { cat "$out/publish-$project.log" >&2; echo "error: publishing $project for win-x64 failed" >&2; exit 1; }
  done
  dotnet build tests/Determined.TestHost -c Release -p:DeterminedReadyToRun=false -v quiet -nologo >"$out/build-testhost.log" 2>&1 \
    || { cat "$out/build-testhost.log" >&2; exit 1; }
fi

if [ ! -d "$WINEPREFIX/drive_c" ]; then
  timeout 300 "$wine_bin" wineboot --init >/dev/null 2>&1 </dev/null || { echo "error: 'wineboot --init' failed for $WINEPREFIX" >&2; exit 1; }
fi

# The Linux side: TLS masters and client files made where keys can be made; stops when its stdin closes.
fixture_dir=$(mktemp -d /tmp/det-windows-fixture-XXXXXX)
coproc FIXTURE { exec dotnet tests/Determined.TestHost/bin/Release/net10.0/Determined.TestHost.dll windows-fixture "$fixture_dir" 2>&1; }
fixture_pid=$FIXTURE_PID
fixture_in=${FIXTURE[1]}
cleanup() { eval "exec $fixture_in>&-" 2>/dev/null; kill "$fixture_pid" 2>/dev/null; wait "$fixture_pid" 2>/dev/null; rm -rf "$fixture_dir"; }
trap cleanup EXIT
if ! read -r -t 120 ready <&"${FIXTURE[0]}" || [[ "$ready" != ready* ]]; then
  echo "error: the Linux fixture did not start: ${ready:-<nothing within 120 s>}" >&2; exit 1
fi

winpath() { echo "Z:${1//\//\\}"; }
export DET_TEST_WINDOWS_FIXTURE; DET_TEST_WINDOWS_FIXTURE=$(winpath "$fixture_dir/fixture.json")
export DET_TEST_HOST_EXE; DET_TEST_HOST_EXE=$(winpath "$out/Determined.TestHost/Determined.TestHost.exe")

rc=0
for suite in "${suites[@]}"; do
  trx="$results/windows-$suite.trx"
  rm -f "$trx"
  echo "Windows leg: $suite under $("$wine_bin" --version 2>/dev/null)"
  # The hang guard is generous: a whole suite takes about a minute here.
  timeout 1200 "$wine_bin" "$out/$suite/$suite.exe" -noColor -noLogo -maxThreads 2 -trx "$(winpath "$trx")" "$@" </dev/null \
    >"$out/$suite.log" 2>&1
  suite_rc=$?
  grep -E "^\s+\[(FAIL|SKIP)\]|^\s+Skipped|Total:|error" "$out/$suite.log" | sed 's/^/  /' | head -200
  if [ "$suite_rc" != 0 ]; then
    echo "error: $suite failed under Wine (exit $suite_rc); the whole output is in $out/$suite.log" >&2
    sed -n '/\[FAIL\]/,/^\s*$/p' "$out/$suite.log" | head -150 >&2
    rc=1
  fi
  [ -f "$trx" ] || { echo "error: $suite wrote no results ($trx)" >&2; rc=1; }
done
exit $rc
