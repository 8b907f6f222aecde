"""Checks that each Subsonic XML answer carries the same fields as its JSON twin.

Usage: python xml_json.py < cases.json
`cases.json` is a list of {"method", "json": the parsed JSON response, "xml": the XML text}.
The XML is parsed by Python's own ElementTree (not the server's code) and compared with
the JSON by the Subsonic mapping, generically, never field by field:
  - a scalar member of an object is an attribute of its element (booleans as true/false),
    except `value`, which is the element's text;
  - an object member is a child element of that name;
  - an array member is one child element of that name per item (scalars as text).
Every attribute, child and text on one side must be on the other with the same value.
Prints one JSON line {"checked": [...], "failures": [...]}; exits 1 if any failed.
"""
import json
import sys
import xml.etree.ElementTree as ET

NS = "{http://subsonic.org/restapi}"


def scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def same_scalar(x, j):
    if x == scalar(j):
        return True
    try:
        return not isinstance(j, bool) and float(x) == float(j)
    except (TypeError, ValueError):
        return False


def compare(el, obj, path, out):
    if not isinstance(obj, dict):
        text = (el.text or "")
        if not same_scalar(text, obj):
            out.append(f"{path}: text {text!r} vs {obj!r}")
        return
    attrs = dict(el.attrib)
    children = {}
    for c in el:
        children.setdefault(c.tag.removeprefix(NS), []).append(c)
    for k, v in obj.items():
        p = f"{path}.{k}"
        if k == "value" and not isinstance(v, (dict, list)):
            if not same_scalar(el.text or "", v):
                out.append(f"{p}: text {el.text!r} vs {v!r}")
            continue
        if isinstance(v, dict):
            got = children.pop(k, [])
            if len(got) != 1:
                out.append(f"{p}: {len(got)} elements for one object")
                continue
            compare(got[0], v, p, out)
        elif isinstance(v, list):
            got = children.pop(k, [])
            if len(got) != len(v):
                out.append(f"{p}: {len(got)} elements for {len(v)} items")
                continue
            for i, (g, item) in enumerate(zip(got, v)):
                compare(g, item, f"{p}[{i}]", out)
        else:
            if k not in attrs:
                out.append(f"{p}: missing attribute (JSON has {v!r})")
                continue
            x = attrs.pop(k)
            if not same_scalar(x, v):
                out.append(f"{p}: attribute {x!r} vs {v!r}")
    for k in attrs:
        out.append(f"{path}.{k}: attribute {attrs[k]!r} not in the JSON")
    for k, els in children.items():
        out.append(f"{path}.{k}: {len(els)} elements not in the JSON")
    if "value" not in obj and (el.text or "").strip():
        out.append(f"{path}: text {el.text!r} not in the JSON")


cases = json.load(sys.stdin)
checked, failures = [], []
for case in cases:
    method = case["method"]
    checked.append(method)
    try:
        root = ET.fromstring(case["xml"].encode("utf-8"))
    except ET.ParseError as e:
        failures.append({"method": method, "errors": [f"XML does not parse: {e}"]})
        continue
    errors = []
    if root.tag != NS + "subsonic-response":
        errors.append(f"root element {root.tag}")
    compare(root, case["json"]["subsonic-response"], "subsonic-response", errors)
    if errors:
        failures.append({"method": method, "errors": errors[:20]})
print(json.dumps({"checked": checked, "failures": failures}, ensure_ascii=False))
sys.exit(1 if failures else 0)
