#!/usr/bin/env bash
# The Windows leg (called by eng/test.sh, or alone): the Security and Sdk test suites, published win-x64 self-contained
# (xunit.v3 test projects are executables), run under Wine with no .NET on the Windows side.
#   - Wine's CNG cannot make or import private keys, so the Linux side serves the TLS masters the Windows-specific cases
#     talk to (Determined.TestHost windows-fixture; the tests read its manifest from DET_TEST_WINDOWS_FIXTURE), and a test
#     that makes keys in-process is reported as skipped with Wine's behaviour named (tests/Shared/Wine.cs).
#   - Results: artifacts/test-results/windows-<suite>.trx (counted by .ci/run), the console summary below.
# Needs wine64 (eng/prerequisites.sh installs it). Usage: bash eng/windows-leg.sh [--no-publish] [extra xunit arguments]
set -uo pipefail
set -f # the filters are query paths (/*/namespace/class/method), never globs
cd "$(dirname "$0")/.."
root=$(pwd)

publish=true
[ "${1:-}" = "--no-publish" ] && { publish=false; shift; }

out="$root/artifacts/windows"
results="$root/artifacts/test-results"
mkdir -p "$out" "$results"
wine_bin=$(command -v wine64 || command -v wine || ls /usr/lib/wine/wine64 2>/dev/null) || { echo "error: wine64 is not installed (apt-get install wine64)" >&2; exit 2; }

# A prefix of our own: no user's Wine settings; made without the gecko/mono installers (no display, no stdin in CI). The
# runs keep mscoree: Wine's loader goes through it for every .NET image, and without it nothing loads.
# W^X off: with .NET's double-mapped code pages under Wine 8 the finalizer of dynamic methods crashes the runtime
# ("Internal CLR error. (0x80131506)" in DynamicResolver.DestroyScout.Finalize, seen within seconds of the first test).
export WINEPREFIX="$out/prefix" WINEDEBUG=-all DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_EnableWriteXorExecute=0
unset DISPLAY WAYLAND_DISPLAY

suites=(Determined.Security.Tests Determined.Sdk.Tests)
if $publish; then
  for project in "${suites[@]}" Determined.TestHost; do
    rm -rf "${out:?}/$project" # publish copies only newer files: a downgraded package would leave the old one behind
    dotnet publish "tests/$project" -c Release -r win-x64 --self-contained -p:DeterminedReadyToRun=false -p:TreatWarningsAsErrors=true \
      -o "$out/$project" -v quiet -nologo >"$out/publish-$project.log" 2>&1 \
      || { cat "$out/publish-$project.log" >&2; echo "error: publishing $project for win-x64 failed" >&2; exit 1; }
  done
  for project in "${suites[@]}" Determined.TestHost; do # the Linux builds: the fixture, and the selection below
    dotnet build "tests/$project" -c Release -p:DeterminedReadyToRun=false -v quiet -nologo >"$out/build-$project.log" 2>&1 \
      || { cat "$out/build-$project.log" >&2; exit 1; }
  done
fi

# The selection: each suite runs on Linux as under Wine (every in-process key refused, DET_TEST_AS_UNDER_WINE=1), and
# what passes there runs under Wine (eng/windows-selection.py), so a new test that needs no key joins the leg by itself.
# Left out: the classes of trait Leg=Wine (their own run, with the Linux-made fixture), every test of trait Windows=*
# (it cannot run on Windows, and its trait says why) and of trait Wine=* (it can on Windows, not under Wine: the trait
# names what Wine does).
for suite in "${suites[@]}"; do
  rm -f "$out/$suite-as-under-wine.xml" "$out/$suite-selection.txt"
  DET_TEST_AS_UNDER_WINE=1 timeout 900 "tests/$suite/bin/Release/net10.0/$suite" -noColor -noLogo -trait- "Leg=Wine" -trait- "Windows=*" -trait- "Wine=*" \
    -xml "$out/$suite-as-under-wine.xml" </dev/null >"$out/$suite-as-under-wine.log" 2>&1
  [ -f "$out/$suite-as-under-wine.xml" ] || { tail -20 "$out/$suite-as-under-wine.log" >&2; echo "error: the selection run of $suite wrote no results" >&2; exit 1; }
  python3 eng/windows-selection.py "$out/$suite-as-under-wine.xml" >"$out/$suite-selection.txt" || exit 1
done

if [ ! -d "$WINEPREFIX/drive_c" ]; then
  WINEDLLOVERRIDES="mscoree,mshtml=" timeout 300 "$wine_bin" wineboot --init >/dev/null 2>&1 </dev/null || { echo "error: 'wineboot --init' failed for $WINEPREFIX" >&2; exit 1; }
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

# What runs under Wine, and why not everything (docs/TESTING.md, "The Windows leg"):
#   - Wine 8's CNG can neither make nor import a private key, and most tests make their keys in-process;
#   - under Wine 8 with .NET 10, the second exception that leaves a method called through reflection hangs the process
#     (the first one does not), and xunit calls every test through reflection: a process survives one failed or skipped
#     test, not two.
# So each run is a set of tests that pass under Wine (trait Leg=Wine: no keys made in-process), and each test that Wine
# must skip (a client certificate needs its key imported) runs alone in its own process.
mutual=Determined.Security.Tests.Windows.WindowsLegTests
runs=(
  "Determined.Security.Tests|wine|-trait Leg=Wine -method- $mutual.ClientCertificateFromPem_IsPresentedForMutualTls -method- $mutual.ClientCertificateFromPkcs12_IsPresentedForMutualTls"
  "Determined.Security.Tests|mtls-pem|-method $mutual.ClientCertificateFromPem_IsPresentedForMutualTls"
  "Determined.Security.Tests|mtls-pkcs12|-method $mutual.ClientCertificateFromPkcs12_IsPresentedForMutualTls"
  "Determined.Security.Tests|selected|$(paste -sd' ' "$out/Determined.Security.Tests-selection.txt")"
  "Determined.Sdk.Tests|wine|-trait Leg=Wine"
  "Determined.Sdk.Tests|selected|$(paste -sd' ' "$out/Determined.Sdk.Tests-selection.txt")"
)

rc=0
echo "Windows leg under $("$wine_bin" --version 2>/dev/null)"
for run in "${runs[@]}"; do
  IFS='|' read -r suite name filters <<<"$run"
  trx="$results/windows-$suite-$name.trx"
  log="$out/$suite-$name.log"
  rm -f "$trx"
  # A run takes seconds; the guard only ends a hang (see above), and a hang is a failure.
  # shellcheck disable=SC2086
  timeout 300 "$wine_bin" "$out/$suite/$suite.exe" -noColor -noLogo -maxThreads 2 -longRunning 60 $filters -trx "$(winpath "$trx")" "$@" </dev/null >"$log" 2>&1
  run_rc=$?
  echo "  $suite ($name): $(grep -E 'Total:' "$log" | tail -1 | sed 's/^ *//')"
  grep -E '\[SKIP\]' -A1 "$log" | sed 's/^/    /'
  # A run that matched no test proves nothing: it fails like a failed test.
  if [ "$run_rc" != 0 ] || ! grep -qE 'Total: [1-9][0-9]*, Errors: 0, Failed: 0,' "$log"; then
    echo "error: $suite ($name) failed under Wine (exit $run_rc${run_rc/124/, hung}); the whole output is in $log" >&2
    grep -E '\[FAIL\]|Long Running' -A12 "$log" | head -80 >&2
    rc=1
  fi
  [ -f "$trx" ] || { echo "error: $suite ($name) wrote no results ($trx)" >&2; rc=1; }
done
exit $rc
