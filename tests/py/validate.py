"""Validates Subsonic JSON responses against the OpenSubsonic OpenAPI schemas.

Usage: python validate.py OPENAPI_DIR < cases.json
`cases.json` is a list of {"method": name, "body": the whole JSON response}. For each, the
schema of the method's 200 response (endpoints/<method>.json, its $refs resolved from the
files they name) is checked with jsonschema. Prints one JSON line: the methods checked and
every failure; exits 1 if any failed.
"""
import json
import os
import sys

import jsonschema

root = sys.argv[1]
cache = {}


def load(path):
    path = os.path.normpath(path)
    if path not in cache:
        with open(path) as f:
            cache[path] = json.load(f)
    return cache[path]


def resolve(node, base, depth=0):
    """Inlines every $ref (relative file, optionally with a #/json/pointer)."""
    if depth > 60:
        return {}
    if isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            file, _, pointer = ref.partition("#")
            path = os.path.join(base, file) if file else None
            target = load(path) if path else None
            if pointer:
                for part in pointer.strip("/").split("/"):
                    target = target[part]
            return resolve(target, os.path.dirname(path) if path else base, depth + 1)
        return {k: resolve(v, base, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, base, depth + 1) for v in node]
    return node


def schema_for(method):
    ep = os.path.join(root, "endpoints", method + ".json")
    doc = load(ep)
    op = doc.get("get") or doc.get("post")
    ok = resolve(op["responses"]["200"], os.path.dirname(ep))
    return ok["content"]["application/json"]["schema"]


failures = []
checked = []
for case in json.load(sys.stdin):
    m = case["method"]
    try:
        jsonschema.validate(case["body"], schema_for(m))
        checked.append(m)
    except jsonschema.ValidationError as e:
        failures.append({"method": m, "error": e.message[:300], "path": list(e.absolute_path)[:12]})
    except (OSError, KeyError, ValueError, jsonschema.SchemaError) as e:
        failures.append({"method": m, "error": f"schema not usable: {type(e).__name__}: {e}"[:300]})
print(json.dumps({"checked": checked, "failures": failures}))
sys.exit(1 if failures else 0)
