"""The API's OpenAPI 3.1 document, built from the app's own route table (pure: no AWS, no I/O).

:func:`build` walks ``app.routes`` (every path and method Chalice serves) and asks a table of
:class:`Operation` entries (``functions/openapi.py``) what each one takes and answers: its query
parameters (the ones the handler accepts - GET routes refuse any other with 400 ``invalid_query``),
its request body (the pydantic model the handler validates, as JSON schema), who may call it (the
policy action: a bearer JWT for ``/staff`` routes, nothing for public ones) and the schema of every
answer: 2xx bodies, and the one error format (``shared/http.py``) for every 4xx/5xx it may give.

A route without an entry, or an entry without a route, is an error: the document never drifts from
the code silently.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

JSON = "application/json"
REF = "#/components/schemas/{model}"

# -- small JSON-schema builders ----------------------------------------------------------------------
STR: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
NUM: dict[str, Any] = {"type": "number"}
BOOL: dict[str, Any] = {"type": "boolean"}
ANY_OBJ: dict[str, Any] = {"type": "object"}
TIME: dict[str, Any] = {"type": "string", "description": "ISO 8601 date-time, UTC"}


def null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or JSON null."""
    return {"anyOf": [schema, {"type": "null"}]}


def arr(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def enum(values: Iterable[str]) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def obj(required: dict[str, Any] | None = None, optional: dict[str, Any] | None = None, *,
        closed: bool = False, values: dict[str, Any] | None = None) -> dict[str, Any]:
    """An object whose ``required`` keys are always there (with their schemas); ``closed``: no other
    keys; ``values``: the schema of every value of a map."""
    schema: dict[str, Any] = {"type": "object"}
    props = {**(required or {}), **(optional or {})}
    if props:
        schema["properties"] = props
    if required:
        schema["required"] = list(required)
    if values is not None:
        schema["additionalProperties"] = values
    elif closed:
        schema["additionalProperties"] = False
    return schema


def ref(name: str) -> dict[str, Any]:
    return {"$ref": REF.format(model=name)}


ERROR = obj({"error": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}, "message": STR,
             "details": arr(obj({"field": STR, "problem": STR}, closed=True))}, closed=True)
ERROR_STATUSES = {400: "bad request (query, path or JSON)", 401: "no valid bearer token",
                  403: "the policy does not allow it", 404: "not found", 409: "conflict (a stale version, a state)",
                  413: "body too large", 415: "unsupported media type", 422: "invalid fields", 429: "rate limited",
                  500: "unexpected failure (never expected)", 503: "a dependency is unavailable; retry"}


# -- what the table says of one operation ------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    """One answer of an operation: its schema per content type (JSON by default)."""

    schema: dict[str, Any] | None = None  # the JSON body
    description: str = "done"
    content: dict[str, dict[str, Any]] = field(default_factory=dict)  # other media types -> schema


@dataclass(frozen=True)
class Operation:
    summary: str
    answers: dict[int, Answer]
    query: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> schema (all optional)
    body: Any = None  # a pydantic model or annotated type validated from the JSON body
    body_name: str | None = None  # its name in components (default: the model's class name)
    no_body: bool = False  # a POST that takes none (or {})
    action: str | None = None  # the policy action (shared/policy.py): its roles may call it
    errors: tuple[int, ...] = (400, 404, 500)  # the error statuses besides the body's and auth's
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)  # request headers it reads
    tags: tuple[str, ...] = ()


def path_parameters(path: str) -> list[str]:
    return re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", path)


def build(routes: dict[str, dict[str, Any]], operations: dict[tuple[str, str], Operation], *, title: str,
          version: str, roles: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (Chalice's ``app.routes``: path -> method -> entry)
    described by ``operations`` ((METHOD, path) -> Operation); ``roles``: policy action -> roles."""
    served = {(method, path) for path, methods in routes.items() for method in methods}
    missing = sorted(served - set(operations))
    extra = sorted(set(operations) - served)
    if missing or extra:
        raise ValueError(f"the OpenAPI table and the routes differ: undocumented {missing}, not served {extra}")
    components: dict[str, Any] = {"Error": ERROR}
    paths: dict[str, Any] = {}
    for path in sorted(routes):
        for method in sorted(routes[path]):
            op = operations[(method, path)]
            entry = routes[path][method]
            paths.setdefault(path, {})[method.lower()] = _operation(method, path, op, entry, components, roles or {})
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Generated from the app's routes and request models (shared/openapi.py). "
                                "Every error answer is {error, message, details[]}."},
        "paths": paths,
        "components": {"schemas": dict(sorted(components.items())),
                       "securitySchemes": {"staffToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                                          "description": "a staff member's ID token (RS256)"}}},
    }


def _operation(method: str, path: str, op: Operation, entry: Any, components: dict[str, Any],
               roles: dict[str, list[str]]) -> dict[str, Any]:
    staff = path.startswith("/staff")
    out: dict[str, Any] = {"operationId": f"{method.lower()}_{_slug(path)}", "summary": op.summary,
                           "tags": list(op.tags or (path.strip("/").split("/")[0] or "pages",))}
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
              for name in path_parameters(path)]
    params += [{"name": name, "in": "query", "required": False, "schema": schema}
               for name, schema in sorted(op.query.items())]
    params += [{"name": name, "in": "header", "required": False, "schema": schema}
               for name, schema in sorted(op.headers.items())]
    if params:
        out["parameters"] = params
    errors = set(op.errors) | {500}
    if op.body is not None:
        types = list(getattr(entry, "content_types", None) or [JSON])
        schema = _body_schema(op.body, op.body_name or getattr(op.body, "__name__", "Body"), components)
        out["requestBody"] = {"required": True, "content": {JSON: {"schema": schema}}}
        errors |= {400, 413, 422}
        if JSON not in types:  # pragma: no cover - every body route takes JSON
            raise ValueError(f"{method} {path} takes a body but not JSON")
    elif op.no_body:
        out["requestBody"] = {"required": False, "content": {JSON: {"schema": obj(closed=True)}}}
        errors |= {400, 413, 422}
    if staff:
        out["security"] = [{"staffToken": []}]
        errors |= {401, 403}
        if op.action:
            out["x-policy-action"] = op.action
            out["x-roles"] = sorted(roles.get(op.action, []))
    else:
        out["security"] = []
    responses: dict[str, Any] = {}
    for status, answer in sorted(op.answers.items()):
        content = {JSON: {"schema": answer.schema}} if answer.schema is not None else {}
        content.update({k: {"schema": v} for k, v in answer.content.items()})
        responses[str(status)] = {"description": answer.description, **({"content": content} if content else {})}
    for status in sorted(errors - set(op.answers)):
        responses[str(status)] = {"description": ERROR_STATUSES.get(status, "error"),
                                  "content": {JSON: {"schema": ref("Error")}}}
    out["responses"] = responses
    return out


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_") or "root"


def _body_schema(body: Any, name: str, components: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of a request model (or annotated type), its definitions moved into ``components``."""
    from pydantic import TypeAdapter

    schema = TypeAdapter(body).json_schema(ref_template=REF, mode="validation")
    for key, value in schema.pop("$defs", {}).items():
        if components.get(key, value) != value:
            raise ValueError(f"two request models named {key} differ")
        components[key] = value
    if "$ref" in schema:
        return schema
    components[name] = schema
    return ref(name)


def model_schema(model: Any) -> dict[str, Any]:
    """A response model's serialization schema, self-contained: its definitions inlined (a ``$ref``
    inside a path's schema would resolve against the whole document)."""
    from pydantic import TypeAdapter

    schema = TypeAdapter(model).json_schema(mode="serialization")
    defs = schema.pop("$defs", {})

    def inline(node: Any, seen: tuple[str, ...] = ()) -> Any:
        if isinstance(node, dict):
            target = node.get("$ref", "")
            if target.startswith("#/$defs/"):
                name = target.removeprefix("#/$defs/")
                if name in seen:
                    raise ValueError(f"{name} is recursive")
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return inline({**defs[name], **rest}, seen + (name,))
            return {k: inline(v, seen) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v, seen) for v in node]
        return node

    return inline(schema)
