#!/usr/bin/env bash
# Adds every public symbol the PublicApiAnalyzers report as undeclared (RS0016) to PublicAPI.Unshipped.txt,
# and drops the ones reported as removed (RS0017). Review the diff: it is the change of the public surface.
set -euo pipefail
proj=${1:-src/SafeCkpt/SafeCkpt.csproj}
dir=$(dirname "$proj")
out=$(dotnet build "$proj" -c Debug --no-incremental 2>&1 || true)
python3 - "$dir/PublicAPI.Unshipped.txt" "$dir/PublicAPI.Shipped.txt" <<PY
import re, sys
text = open("/dev/stdin").read() if False else '''$(echo "$out" | grep -E "RS0016|RS0017" | sed "s/'''//g")'''
unshipped, shipped = sys.argv[1], sys.argv[2]
lines = [l for l in open(unshipped).read().splitlines() if l.strip()]
add = set(re.findall(r"RS0016: Symbol '(.*?)' is not part of the declared public API", text))
remove = set(re.findall(r"RS0017: Symbol '(.*?)' is part of the declared API, but is either not public or could not be found", text))
body = sorted((set(lines[1:]) | add) - remove)
open(unshipped, "w").write("#nullable enable\n" + "".join(l + "\n" for l in body))
print(f"added {len(add)}, removed {len(remove)}")
PY
