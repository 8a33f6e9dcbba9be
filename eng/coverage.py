#!/usr/bin/env python3
"""Coverage summary and floors: merges the Cobertura files coverlet wrote under a results directory, prints line and branch
coverage per area of src/ (Determined.Security, Determined.Sdk), writes artifacts/coverage/summary.txt, and exits 1
when an area is below its floor in eng/coverage-floors.txt. Usage: python3 eng/coverage.py [results-dir]"""
import glob
import os
import re
import sys
import xml.etree.ElementTree as ET

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
results = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "artifacts", "test-results")
files = glob.glob(os.path.join(results, "**", "coverage.cobertura.xml"), recursive=True)
if not files:
    print(f"coverage: no coverage.cobertura.xml under {results}", file=sys.stderr)
    sys.exit(1)

lines = {}     # (file, line) -> hits
branches = {}  # (file, line) -> (covered, total)
src = os.path.join(root, "src")


def relative(sources, filename):
    """The file's path under src/ (coverlet names files relative to the sources' common root, which varies by run)."""
    filename = filename.replace("\\", "/")
    for base in sources or [""]:
        candidate = os.path.normpath(os.path.join(base, filename))
        if os.path.exists(candidate):
            return os.path.relpath(candidate, src).replace(os.sep, "/")
    return filename


for path in files:
    document = ET.parse(path).getroot()
    sources = [s.text for s in document.iter("source") if s.text]
    for cls in document.iter("class"):
        name = relative(sources, cls.get("filename"))
        for line in cls.iter("line"):
            key = (name, int(line.get("number")))
            lines[key] = max(lines.get(key, 0), int(line.get("hits")))
            m = re.search(r"\((\d+)/(\d+)\)", line.get("condition-coverage") or "")
            if line.get("branch") == "True" and m:
                covered, total = int(m.group(1)), int(m.group(2))
                old = branches.get(key, (0, total))
                branches[key] = (max(old[0], covered), max(old[1], total))


def area(name):
    head = name.split("/")[0]
    return head if head in ("Determined.Security", "Determined.Sdk") else None


rows = {}
for (name, _), hits in lines.items():
    a = area(name)
    if a:
        r = rows.setdefault(a, [0, 0, 0, 0])
        r[0] += hits > 0
        r[1] += 1
for (name, _), (covered, total) in branches.items():
    a = area(name)
    if a:
        r = rows.setdefault(a, [0, 0, 0, 0])
        r[2] += covered
        r[3] += total

floors = {}
with open(os.path.join(root, "eng", "coverage-floors.txt"), encoding="utf-8") as f:
    for raw in f:
        raw = raw.split("#")[0].strip()
        if raw:
            name, line_floor, branch_floor = raw.split()
            floors[name] = (float(line_floor), float(branch_floor))

out = [f"{'area (src/)':<22}{'lines':>16}{'branches':>18}   floors (lines/branches)"]
failed = []
for name in ("Determined.Security", "Determined.Sdk"):
    covered, total, bcovered, btotal = rows.get(name, [0, 0, 0, 0])
    lr = 100.0 * covered / total if total else 0.0
    br = 100.0 * bcovered / btotal if btotal else 0.0
    lf, bf = floors.get(name, (0.0, 0.0))
    verdict = "ok" if lr >= lf and br >= bf else "BELOW FLOOR"
    if verdict != "ok":
        failed.append(name)
    out.append(f"{name:<22}{lr:8.1f}% {covered:>5}/{total:<5}{br:8.1f}% {bcovered:>5}/{btotal:<5}   {lf:.1f}/{bf:.1f} {verdict}")
text = "\n".join(out)
print(text)
os.makedirs(os.path.join(root, "artifacts", "coverage"), exist_ok=True)
with open(os.path.join(root, "artifacts", "coverage", "summary.txt"), "w", encoding="utf-8") as f:
    f.write(text + f"\n(from {len(files)} Cobertura file(s); code run in child processes is not counted)\n")
if failed:
    print(f"coverage: {', '.join(failed)} below the floor in eng/coverage-floors.txt", file=sys.stderr)
    sys.exit(1)
