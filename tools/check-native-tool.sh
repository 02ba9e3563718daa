#!/usr/bin/env bash
# Packs the RID-specific tool packages (-p:NativeTool=true: the pointer package, this machine's native AOT package
# and the framework-dependent "any" fallback), installs SafeCkpt.Tool from them into a temporary tool path as a user
# would, and checks that `dotnet tool install` chose the native package: one executable, no managed assemblies, and
# it inspects a checkpoint. Needs clang and zlib1g-dev (native AOT). Exit 0 when all holds.
set -euo pipefail
cd "$(dirname "$0")/.."
rid=$(dotnet --info | awk '/RID:/ {print $2; exit}')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version=$(dotnet msbuild src/SafeCkpt.Cli -getProperty:Version)
# Packing reuses bin/<config>/net10.0/<rid>/publish: start it clean so nothing stale rides along.
rm -rf "src/SafeCkpt.Cli/bin/Release/net10.0/$rid/publish" src/SafeCkpt.Cli/bin/Release/net10.0/any
dotnet pack src/SafeCkpt.Cli -c Release -p:NativeTool=true -o "$work/packages" >/dev/null
dotnet pack src/SafeCkpt.Cli -c Release -p:NativeTool=true -r "$rid" -o "$work/packages" >/dev/null
dotnet pack src/SafeCkpt.Cli -c Release -p:NativeTool=true -r any -o "$work/packages" >/dev/null
ls "$work/packages"
# Restore into a private folder, never the user's cache.
export NUGET_PACKAGES="$work/nuget"
dotnet tool install SafeCkpt.Tool --tool-path "$work/tools" --add-source "$work/packages" --version "$version" >/dev/null
store=$(find "$work/tools/.store" -type d -path "*/tools/any/$rid" | head -n 1)
[ -n "$store" ] || { echo "check-native-tool: the installed package is not the $rid one"; find "$work/tools/.store" -maxdepth 4; exit 1; }
files=$(ls "$store" | grep -v '^DotnetToolSettings.xml$')
[ "$files" = "SafeCkpt.Cli" ] || { echo "check-native-tool: expected the one native executable in $store, found: $files"; exit 1; }
file -L "$store/SafeCkpt.Cli" | grep -q ELF || { echo "check-native-tool: $store/SafeCkpt.Cli is not a native executable"; exit 1; }
out=$("$work/tools/safeckpt" inspect tests/SafeCkpt.Tests/Fixtures/ckpt/sd1_tiny_ema.ckpt)
grep -q "sd1_tiny_ema.ckpt" <<<"$out" || { echo "check-native-tool: inspect printed: $out"; exit 1; }
echo "check-native-tool: dotnet tool install chose SafeCkpt.Tool.$rid ($(stat -c %s "$store/SafeCkpt.Cli") bytes, native AOT); the any fallback and the pointer package were packed beside it"
