#!/usr/bin/env python3
"""The Windows leg's selection (eng/windows-leg.sh): from the xunit XML of a Linux run made as under Wine
(DET_TEST_AS_UNDER_WINE=1: every in-process key refused, as Wine's CNG refuses it), the tests that passed there, as
xunit query filters, '-filter /*/namespace/class/method' for each method all of whose cases passed (several filters
are or'ed; never a whole class, which would take back the methods its traits leave out). A method with a skipped or failed case is left out: under Wine a process survives one
failed or skipped test, not two (docs/TESTING.md, "The Windows leg")."""
import collections
import sys
import xml.etree.ElementTree as ET

results = collections.defaultdict(lambda: collections.defaultdict(set))
for test in ET.parse(sys.argv[1]).iter("test"):
    results[test.get("type")][test.get("method")].add(test.get("result"))

args = []
for cls in sorted(results):
    methods = results[cls]
    passing = [m for m in sorted(methods) if methods[m] == {"Pass"}]
    namespace, _, name = cls.rpartition(".")
    for m in passing:
        args += ["-filter", f"/*/{namespace}/{name}/{m}"]

# Said, never silent: what the Linux run as under Wine left out, and why (each skip's reason, counted).
left_out = collections.Counter()
for test in ET.parse(sys.argv[1]).iter("test"):
    if test.get("result") != "Pass":
        reason = (test.findtext("reason") or test.findtext("failure/message") or "").strip().splitlines()[:1]
        left_out[f"{test.get('result')}: {reason[0][:110] if reason else '(no reason)'}"] += 1
selected = sum(1 for cls in results.values() for cases in cls.values() if cases == {"Pass"})
print(f"  selected {selected} methods; left out as under Wine:", file=sys.stderr)
for reason, count in left_out.most_common():
    print(f"    {count:4} {reason}", file=sys.stderr)

length = sum(len(a) + 3 for a in args)
if length > 30000:  # Windows' command line holds 32767 characters
    sys.exit(f"error: the selection is {length} characters, too long for one Windows command line; split the run")
print("\n".join(args))
