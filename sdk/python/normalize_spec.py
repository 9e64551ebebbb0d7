"""Copy of openapi/openapi.json for openapi-python-client, with one lossless rewrite.

The spec documents a field whose type is a named schema as
    {"description": D, "allOf": [{"$ref": R}, {"description": D}]}
(OpenAPI 3.0 ignores siblings of "$ref", so the description travels in an allOf member).
openapi-python-client 0.29 merges allOf members as objects and, when R is an enum or a
oneOf, fails with "Cannot take allOf a non-object": it drops the schema and every endpoint
using it (POST /v1/messages, POST /v1/connect-sessions). A member that holds nothing but
annotations (description/title/example) constrains nothing, so it is removed here:
    {"description": D, "allOf": [{"$ref": R}]}
which validates exactly the same documents. Prints how many members were removed.

Usage: normalize_spec.py IN OUT
"""

import json
import sys

ANNOTATIONS = {"description", "title", "example", "examples", "deprecated"}


def annotation_only(node):
    return isinstance(node, dict) and node and set(node) <= ANNOTATIONS


def walk(node, count):
    if isinstance(node, dict):
        all_of = node.get("allOf")
        if isinstance(all_of, list) and len(all_of) > 1:
            kept = [m for m in all_of if not annotation_only(m)]
            if kept and len(kept) < len(all_of):
                count[0] += len(all_of) - len(kept)
                node["allOf"] = kept
        for value in node.values():
            walk(value, count)
    elif isinstance(node, list):
        for value in node:
            walk(value, count)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        spec = json.load(f)
    count = [0]
    walk(spec, count)
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(spec, f, indent=2, ensure_ascii=False)
    print(f"normalize_spec: removed {count[0]} annotation-only allOf members")


if __name__ == "__main__":
    main()
