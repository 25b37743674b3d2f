#!/usr/bin/env python3
"""Checks the request that reached a Gemini upstream (the mock's /mock/last-request) for tool
schemas Gemini would refuse: every keyword of every functionDeclarations[].parameters must be
one of the OpenAPI subset Gemini's Schema object takes. Written apart from the gateway's own
converter (adapters/gemini_schema.cpp) so a real CLI's tools check it from outside.

  check_gemini_schemas.py mock-last-request.json
Prints nothing and exits 0 when every schema is acceptable (and at least one tool was sent);
else prints what is wrong and exits 1."""
import json
import sys

# Gemini API reference, Schema: the fields a function declaration's parameters may use.
ALLOWED = {"type", "format", "title", "description", "nullable", "enum", "maxItems",
           "minItems", "properties", "required", "minProperties", "maxProperties",
           "minLength", "maxLength", "pattern", "example", "anyOf", "propertyOrdering",
           "default", "items", "minimum", "maximum"}
TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL",
         "string", "number", "integer", "boolean", "array", "object", "null"}


def problems(schema, where):
    if not isinstance(schema, dict):
        return [f"{where}: a schema must be an object"]
    found = []
    for key, value in schema.items():
        if key not in ALLOWED:
            found.append(f"{where}: keyword '{key}' is not in Gemini's Schema")
        elif key == "type" and (not isinstance(value, str) or value not in TYPES):
            found.append(f"{where}: type {json.dumps(value)} is not one Gemini knows")
        elif key == "enum" and not all(isinstance(v, str) for v in value):
            found.append(f"{where}: enum values must be strings")
        elif key == "properties":
            for name, sub in value.items():
                found += problems(sub, f"{where}.{name}")
        elif key == "items":
            found += problems(value, f"{where}[]")
        elif key == "anyOf":
            for i, sub in enumerate(value):
                found += problems(sub, f"{where}|{i}")
    return found


def main(path):
    request = json.load(open(path))
    body = request["body"]
    if isinstance(body, str):
        body = json.loads(body)
    declarations = [d for tool in body.get("tools", []) for d in tool.get("functionDeclarations", [])]
    if not declarations:
        print("no functionDeclarations reached the Gemini upstream")
        return 1
    found = []
    for d in declarations:
        if "parameters" in d:
            found += problems(d["parameters"], d.get("name", "?"))
    for line in found:
        print(line)
    return 1 if found else 0


sys.exit(main(sys.argv[1]))
