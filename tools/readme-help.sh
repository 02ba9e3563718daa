#!/usr/bin/env bash
# Rewrites the README's "Every command's help" blocks from the built tool, so they are what `safeckpt CMD --help`
# prints (redirected: 100 columns, plain). Run after `dotnet build -c Release`; the test
# Cli.ReadmeHelpTests fails when the README and the tool disagree.
set -euo pipefail
cd "$(dirname "$0")/.."
tool="dotnet src/SafeCkpt.Cli/bin/Release/net10.0/SafeCkpt.Cli.dll"
python3 - "$tool" <<'PY'
import re, subprocess, sys
tool = sys.argv[1].split()
readme = open("README.md", encoding="utf-8").read()
def block(m):
    args = m.group(1).split()[1:]
    out = subprocess.run(tool + args, capture_output=True, text=True).stdout.rstrip("\n")
    return f"<!-- help: {m.group(1)} -->\n```text\n{out}\n```"
readme = re.sub(r"<!-- help: (safeckpt[^>]*?) -->\n```text\n(?:(?!```).*\n)*```", block, readme)
open("README.md", "w", encoding="utf-8").write(readme)
PY
