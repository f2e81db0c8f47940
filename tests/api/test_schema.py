"""The OpenAPI schema: valid, free of warnings, and every operation documents its errors as problem+json."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Generated the way CI does: validated against the OpenAPI spec, failing on any warning."""
    out: Path = tmp_path_factory.mktemp("openapi") / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    return yaml.safe_load(out.read_text())


def operations(schema: dict) -> list[tuple[str, str, dict]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_the_schema_generates_and_validates_without_a_single_warning(schema: dict) -> None:
    assert schema["openapi"].startswith("3.")
    assert len(operations(schema)) > 20


def test_every_error_response_of_every_operation_is_a_problem_document(schema: dict) -> None:
    for method, path, operation in operations(schema):
        errors = {code: r for code, r in operation["responses"].items() if code >= "400"}
        assert "500" in errors, (method, path)
        for code, response in errors.items():
            assert list(response["content"]) == [PROBLEM_JSON], (method, path, code)
            ref = response["content"][PROBLEM_JSON]["schema"]["$ref"]
            expected = "ValidationProblem" if code == "400" else "Problem"
            assert ref == f"#/components/schemas/{expected}", (method, path, code)
            assert response["description"], (method, path, code)


def test_each_operation_documents_the_errors_it_can_answer(schema: dict) -> None:
    responses = {(method, path): set(op["responses"]) for method, path, op in operations(schema)}
    assert {"400", "401", "403", "500"} <= responses[("POST", "/api/orders/")]
    assert {"401", "404", "500"} <= responses[("GET", "/api/orders/{id}/")]
    assert "400" not in responses[("GET", "/api/orders/{id}/")]
    assert {"409", "404"} <= responses[("POST", "/api/articles/{id}/publish/")]
    # Public articles: no authentication at all, so neither 401 nor 403; a slug that is not there is a 404.
    assert responses[("GET", "/api/public/articles/{slug}/")] == {"200", "404", "500", "503"}
    assert "404" in responses[("GET", "/api/users/me/")]  # declared by the view: no profile yet


@pytest.mark.django_db
def test_real_error_bodies_match_the_documented_problem_schemas(schema: dict) -> None:
    components = schema["components"]["schemas"]
    invalid = APIClient().post("/api/users/register/", {"username": "no spaces please"}, format="json")
    missing = APIClient().get("/api/public/articles/never-written/")
    assert (invalid.status_code, missing.status_code) == (400, 404)
    jsonschema.validate(invalid.json(), {**components["ValidationProblem"], "additionalProperties": False})
    jsonschema.validate(missing.json(), {**components["Problem"], "additionalProperties": False})


def test_the_api_root_is_in_the_schema_with_its_links(schema: dict) -> None:
    operation = schema["paths"]["/api/"]["get"]
    assert operation["operationId"] == "api_root"
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    links = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]
    assert links["orders"] == {"type": "string", "format": "uri", "description": links["orders"]["description"]}
    assert {"orders", "products", "public_articles", "token"} <= set(links)


def test_every_operation_documents_an_outage_as_a_503_with_retry_after(schema: dict) -> None:
    for method, path, operation in operations(schema):
        unavailable = operation["responses"].get("503")
        assert unavailable is not None, (method, path)
        assert "Retry-After" in unavailable["headers"], (method, path)
