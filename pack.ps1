#!/usr/bin/env pwsh
# Packs Determined.Security and Determined.Sdk (.nupkg + .snupkg) into artifacts/packages.
# All package metadata lives in Directory.Build.props; .ci/run runs the same command.
$ErrorActionPreference = 'Stop'
Set-Location $PSScriptRoot
dotnet pack Determined.sln -c Release -o artifacts/packages
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
