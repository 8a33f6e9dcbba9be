#!/usr/bin/env bash
# The tools the tests (and .ci/run) need besides the .NET SDK: checks them, installs the missing ones with apt-get when it
# can (root), otherwise prints the one command that installs them and exits 2. Sourced by eng/test.sh and .ci/run.
# tool -> Debian package. The tests use: openssl (s_server, s_client, s_time, x509, req), curl, python3 with cryptography
# (certs.json/flock interop, the compatibility corpus, the Python-client oracle with requests), keytool (Java keystores), clang
# (NativeAOT publish), unzip (.ci/smoke), mkfifo (special-file tests), go (the Go-agent oracle of the recipe matrix), chromium
# (headless: the sample master's status page as a browser judges its TLS), certutil (libnss3-tools: that browser's NSS roots) and
# jupyter-nbconvert with jupyter_client and ipykernel (the notebook leg executes samples/Notebooks headless; its .NET kernel is the
# local tool Microsoft.dotnet-interactive of .config/dotnet-tools.json, its kernel spec installed by the test into a temp folder),
# wine with wine64 (the Windows leg, eng/windows-leg.sh: the Security and Sdk suites published win-x64 run under it).
declare -A packages=([openssl]=openssl [curl]=curl [python3]=python3 [keytool]=default-jre-headless [unzip]=unzip [mkfifo]=coreutils [go]=golang-go [chromium]=chromium [certutil]=libnss3-tools [jupyter-nbconvert]=jupyter-nbconvert)
missing=()
for tool in "${!packages[@]}"; do
  command -v "$tool" >/dev/null || missing+=("${packages[$tool]}")
done
command -v python3 >/dev/null && ! python3 -c 'import cryptography' 2>/dev/null && missing+=(python3-cryptography)
command -v python3 >/dev/null && ! python3 -c 'import requests, certifi' 2>/dev/null && missing+=(python3-requests python3-certifi)
# Debian's jupyter runs /usr/bin/python3 (not a python3 of pyenv or a venv earlier on PATH): its modules are checked there.
[ -x /usr/bin/python3 ] && ! /usr/bin/python3 -c 'import nbclient, jupyter_client, ipykernel' 2>/dev/null && missing+=(python3-nbclient python3-jupyter-client python3-ipykernel)
{ command -v wine >/dev/null && [ -x /usr/lib/wine/wine64 ]; } || missing+=(wine wine64)
grep -qx 'clang\(-[0-9]*\)\?' <<<"$(compgen -c)" || missing+=(clang)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing: ${missing[*]}"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } || { echo "could not install ${missing[*]}" >&2; return 2 2>/dev/null || exit 2; }
  else
    echo "The tests need: ${missing[*]}. Install them first, e.g.:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    return 2 2>/dev/null || exit 2
  fi
fi
command -v dotnet >/dev/null || { echo "the .NET 10 SDK is not installed (https://dot.net)" >&2; return 2 2>/dev/null || exit 2; }

