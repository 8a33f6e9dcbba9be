#!/usr/bin/env bash
# Adds every public symbol the PublicApiAnalyzers report as undeclared (RS0016) to PublicAPI.Unshipped.txt,
# and drops the ones reported as removed (RS0017). Run after changing public API; review the diff.
set -euo pipefail
cd "$(dirname "$0")/.."
for proj in src/*/; do
  name=$(basename "$proj")
  [ -f "$proj/$name.csproj" ] || continue
  out=$(dotnet build "$proj" -c Release --no-incremental 2>&1 || true)
  file="$proj/PublicAPI.Unshipped.txt"
  [ -s "$file" ] || echo '#nullable enable' > "$file"
  mine=$(grep -F "$name/$name.csproj]" <<<"$out" || true)
  grep -oP "error RS0016: Symbol '\K.*(?=' is not part of the declared public API)" <<<"$mine" | sort -u >> "$file" || true
  grep -oP "error RS0017: Symbol '\K.*(?=' is part of the declared API, but)" <<<"$mine" | sort -u | while read -r sym; do
    grep -vxF -- "$sym" "$file" > "$file.tmp" || true; mv "$file.tmp" "$file"
  done || true
  { head -n1 "$file"; tail -n +2 "$file" | sort -u; } > "$file.tmp" && mv "$file.tmp" "$file"
  echo "$name: $(($(wc -l < "$file") - 1)) unshipped symbols"
done
