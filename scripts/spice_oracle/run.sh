#!/usr/bin/env bash
# Scores hand-written scene-graph tuples with SPICE 1.0's own Java classes (see
# OracleHarness.java) and writes the result in the layout of the jar's `-detailed -subset`
# output, pretty-printed as the jar does (JSON.stringify(..., null, 2)).
#
# usage: scripts/spice_oracle/run.sh SPICE_DIR CASES.json OUT.json
#   SPICE_DIR: the folder holding spice-1.0.jar and lib/ (pycocoevalcap/spice); the
#   Stanford CoreNLP jars are NOT needed.
# Needs a JDK (javac) and python3.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
spice_dir="$1"; cases="$2"; out="$3"
cp="$spice_dir/spice-1.0.jar:$spice_dir/lib/Meteor-1.5.jar:$spice_dir/lib/json-simple-1.1.1.jar:$spice_dir/lib/guava-19.0.jar"
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
javac -nowarn -d "$build" -cp "$cp" "$here"/MapFactory.java "$here"/DirectedMultiGraph.java "$here"/OracleHarness.java
# The stand-ins come first on the class path.
java -cp "$build:$cp" edu.anu.spice.OracleHarness "$cases" > "$build/raw.json"
python3 - "$build/raw.json" "$out" <<'PY'
import json, sys
def js(v):
    # JavaScript prints integral numbers without a fraction.
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, list):
        return [js(x) for x in v]
    if isinstance(v, dict):
        return {k: js(x) for k, x in v.items()}
    return v
data = json.load(open(sys.argv[1]))
with open(sys.argv[2], "w") as f:
    f.write(json.dumps(js(data), indent=2, ensure_ascii=False))
PY
