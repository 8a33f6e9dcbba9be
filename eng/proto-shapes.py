#!/usr/bin/env python3
"""Derive the JSON field sets of upstream Determined's REST messages from its .proto files.

Usage: python3 eng/proto-shapes.py <upstream checkout or bare git dir> > tests/Determined.EndToEnd.Tests/Fixtures/RestShapes/messages.json

grpc-gateway v1 with runtime.JSONPb{EmitDefaults: true} (master/internal/grpcutil/api.go) writes every field under its
lowerCamelCase JSON name; proto3 `optional` fields and members of a `oneof` only when set. For each message this prints
its fields as {"json name": {"type": "<proto type>", "repeated": bool, "map": bool, "optional": bool}}.
Reads the files through `git show HEAD:<path>` when given a bare repository, or from the work tree otherwise.
"""
import json
import os
import re
import subprocess
import sys

FILES = [
    "proto/src/determined/api/v1/master.proto",
    "proto/src/determined/api/v1/auth.proto",
    "proto/src/determined/api/v1/agent.proto",
    "proto/src/determined/api/v1/command.proto",
    "proto/src/determined/api/v1/task.proto",
    "proto/src/determined/api/v1/pagination.proto",
    "proto/src/determined/user/v1/user.proto",
    "proto/src/determined/agent/v1/agent.proto",
    "proto/src/determined/command/v1/command.proto",
    "proto/src/determined/container/v1/container.proto",
    "proto/src/determined/device/v1/device.proto",
    "proto/src/determined/task/v1/task.proto",
    "proto/src/determined/api/v1/workspace.proto",
    "proto/src/determined/workspace/v1/workspace.proto",
]

FIELD = re.compile(r"^\s*(optional\s+|repeated\s+)?(map<\s*\w+\s*,\s*([\w.]+)\s*>|[\w.]+)\s+(\w+)\s*=\s*\d+")


def read(root, path):
    if os.path.isdir(os.path.join(root, "proto")):
        with open(os.path.join(root, path), encoding="utf-8") as f:
            return f.read()
    return subprocess.run(["git", "-C", root, "show", "HEAD:" + path], check=True, capture_output=True, text=True).stdout


def camel(name):
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def parse(text, messages):
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"option\s*\([^)]*\)\s*=\s*\{.*?\};", "", text, flags=re.S)
    text = re.sub(r"=\s*\n\s*", "= ", text)  # a field declaration wrapped after its '='
    text = re.sub(r"(\w)\s*\n\s*(\w+\s*=\s*\d+\s*;)", r"\1 \2", text)  # ... or after its type
    depth, stack, oneof_depth = 0, [], None
    for line in text.splitlines():
        m = re.match(r"^\s*message\s+(\w+)\s*\{", line)
        if m:
            stack.append((m.group(1), depth))
            messages.setdefault(m.group(1), {})
        o = re.match(r"^\s*oneof\s+\w+\s*\{", line)
        if o:
            oneof_depth = depth
        direct = stack and stack[-1][1] == depth - 1
        in_oneof = stack and oneof_depth is not None and oneof_depth == depth - 1 and stack[-1][1] == depth - 2
        if not m and not o and (direct or in_oneof):
            f = FIELD.match(line)
            if f and not re.match(r"\s*(option|reserved|enum|message)\b", line):
                label, kind, value, name = f.group(1), f.group(2), f.group(3), f.group(4)
                messages[stack[-1][0]][camel(name)] = {
                    "type": (value or kind).split(".")[-1],
                    "repeated": (label or "").strip() == "repeated",
                    "map": value is not None,
                    "optional": (label or "").strip() == "optional" or oneof_depth is not None,
                }
        depth += line.count("{") - line.count("}")
        if oneof_depth is not None and depth <= oneof_depth:
            oneof_depth = None
        while stack and depth <= stack[-1][1]:
            stack.pop()


def main():
    root = sys.argv[1]
    messages = {}
    for path in FILES:
        parse(read(root, path), messages)
    print(json.dumps(messages, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
