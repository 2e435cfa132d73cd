"""``openapi/openapi.json`` is generated from the app and committed; it must not drift.

Regenerate with: python -m service openapi > openapi/openapi.json
"""

from __future__ import annotations

import json
from pathlib import Path

from service.main import create_app

COMMITTED = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app() -> None:
    generated = create_app().openapi()
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert committed == generated, "openapi/openapi.json is stale: python -m service openapi > openapi/openapi.json"


def test_every_operation_is_documented_for_vendors() -> None:
    spec = create_app().openapi()
    operation_ids = set()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), where
            assert len(operation.get("description", "")) > 40, where
            assert operation.get("operationId"), where
            operation_ids.add(operation["operationId"])
            if path.startswith("/v1"):
                assert "401" in operation["responses"], where
                problem = operation["responses"]["401"]["content"]["application/problem+json"]
                assert problem["schema"]["$ref"] == "#/components/schemas/ProblemDetails", where
            if method == "post" and "requestBody" not in operation:  # an action on its path (claim): no body
                assert "409" in operation["responses"], where
            elif method == "post":
                content = operation["requestBody"]["content"]
                if "multipart/form-data" in content:  # an upload: every form field documented with an example
                    form = content["multipart/form-data"]["schema"]
                    assert set(form["required"]) <= set(form["properties"]), where
                    assert all(field.get("examples") or field.get("format") == "binary"
                               for field in form["properties"].values()), where
                else:
                    body = content["application/json"]
                    ref = body["schema"]["$ref"].rsplit("/", 1)[-1]
                    assert body.get("examples") or spec["components"]["schemas"][ref].get("examples"), where
                assert "422" in operation["responses"] and "400" in operation["responses"], where
    assert len(operation_ids) == sum(len(item) for item in spec["paths"].values())


def test_push_body_schema_documents_every_template_column() -> None:
    schemas = create_app().openapi()["components"]["schemas"]
    row = schemas["SubmissionRowIn"]["properties"]
    for field, letter in (("finess", "C"), ("active_dui", "G"), ("period_end", "L")):
        assert f"colonne {letter}" in row[field]["description"]


def test_identifiers_a_client_generator_turns_into_names_are_ascii() -> None:
    """Title, tag names and operation ids become package, module and function names."""
    import re

    spec = create_app().openapi()
    assert spec["info"]["title"].isascii()
    names = [tag["name"] for tag in spec["tags"]]
    operations = [op for item in spec["paths"].values() for op in item.values()]
    assert all(re.fullmatch(r"[a-z][a-z0-9-]*", name) for name in names), names
    assert {tag for op in operations for tag in op["tags"]} <= set(names)
    assert all(tag["description"] for tag in spec["tags"])
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", op["operationId"]) for op in operations)


def test_every_v1_operation_declares_the_bearer_key() -> None:
    spec = create_app().openapi()
    assert spec["components"]["securitySchemes"]["cle_api"]["scheme"] == "bearer"
    for path, item in spec["paths"].items():
        for operation in item.values():
            assert (operation.get("security") == [{"cle_api": []}]) is path.startswith("/v1/"), path
