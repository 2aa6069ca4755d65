"""Hostile text for tests: payloads, the request fields they go into, and checks of what comes out.

* :data:`XSS`, :data:`FORMULAS`, :data:`HEADERS` - the payload families; :func:`hostile` makes one value
  of a given length mixing them with Chinese text, so every field gets markup, a formula-looking start and
  a line break that would be a mail header.
* :func:`text_fields` walks the OpenAPI document's request bodies (``functions/openapi.py``) and lists
  every free-text string field: a discriminated union (the workflow ``Command``) counts per variant.
* :func:`markup_problems` parses an HTML document and names every element or attribute a payload could
  have injected; :func:`formula_cells` names spreadsheet cells a spreadsheet would evaluate.
"""
from __future__ import annotations

from html.parser import HTMLParser
from typing import Any, Iterable, Iterator

XSS = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '"><svg onload=alert(1)>',
       "' onmouseover='alert(1)' x='", "javascript:alert(1)", "</textarea><iframe src=javascript:alert(1)>")
FORMULAS = ('=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)", "\t=1+2", "\r=1+2")
HEADERS = ("\r\nBcc: x@evil.example", "\r\nSubject: hacked", "\nTo: y@evil.example")
ZH = "饺子有异味"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# the elements and attributes our pages and emails never make from data
_DANGEROUS_TAGS = {"script", "iframe", "object", "embed", "svg", "math", "base", "form"}


def hostile(n: int, max_length: int = 2000) -> str:
    """A distinct payload (``#n`` marks it) no longer than ``max_length``: a formula-looking start, markup,
    Chinese text and a header-injection line break; short fields get one of each family that fits."""
    formula, xss, header = FORMULAS[n % len(FORMULAS)], XSS[n % len(XSS)], HEADERS[n % len(HEADERS)]
    if max_length >= 200:
        return f"{formula} {ZH}#{n} {' '.join(XSS)}{header} {' '.join(FORMULAS[:4])}"[:max_length]
    short = f"{formula}{xss}{ZH}#{n}{header}"
    if len(short) <= max_length:
        return short
    return f"={XSS[n % 3]}#{n}"[:max_length]


def normalised(value: str) -> str:
    """What the models keep of a payload: surrounding white space goes (str_strip_whitespace)."""
    return value.strip()


def is_hostile(value: Any) -> bool:
    return isinstance(value, str) and any(p in value for p in (*XSS, *(f.strip() for f in FORMULAS), "\r\n", ZH))


# -- the request fields ------------------------------------------------------------------------------------
def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _walk(schema: dict[str, Any], components: dict[str, Any], path: str, seen: tuple[str, ...]) -> Iterator[str]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            yield from _walk(components[name], components, path, (*seen, name))
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from _walk(sub, components, path, seen)
    if "enum" in schema or "const" in schema or "pattern" in schema or "format" in schema:
        return  # a closed set, or a shape no markup fits
    kind = schema.get("type")
    if kind == "string":
        yield path
    elif kind == "array":
        yield from _walk(schema.get("items", {}), components, path + "[]", seen)
    elif kind == "object":
        for name, sub in schema.get("properties", {}).items():
            yield from _walk(sub, components, f"{path}.{name}".lstrip("."), seen)
        if isinstance(schema.get("additionalProperties"), dict):
            yield from _walk(schema["additionalProperties"], components, path + "{}", seen)


def text_fields(document: dict[str, Any]) -> set[tuple[str, str, str]]:
    """``(METHOD path, variant, field)`` for every free-text string of every request body: strings
    without an enum, const, pattern or format. ``variant`` is the discriminator's value (the workflow
    action) for a discriminated union, else ``""``."""
    components = document["components"]["schemas"]
    found: set[tuple[str, str, str]] = set()
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if not body:
                continue
            route = f"{method.upper()} {path}"
            schema = _resolve(body, components)
            mapping = schema.get("discriminator", {}).get("mapping", {})
            if mapping:
                for variant, ref in mapping.items():
                    found |= {(route, variant, f) for f in _walk({"$ref": ref}, components, "", ())}
            else:
                found |= {(route, "", f) for f in _walk(body, components, "", ())}
    return found


def filled_fields(body: Any, prefix: str = "") -> Iterator[str]:
    """The dotted paths of ``body`` holding a hostile value (lists as ``[]``)."""
    if isinstance(body, dict):
        for key, value in body.items():
            yield from filled_fields(value, f"{prefix}.{key}".lstrip("."))
    elif isinstance(body, list):
        for value in body:
            yield from filled_fields(value, prefix + "[]")
    elif is_hostile(body):
        yield prefix


def strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


# -- what comes out ------------------------------------------------------------------------------------------
class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DANGEROUS_TAGS:
            self.problems.append(f"<{tag}> element")
        if tag == "img" and not any(k == "src" and (v or "").startswith(("cid:", "data:image/png", "https:"))
                                    for k, v in attrs):
            self.problems.append(f"<img {attrs}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}={value}>")
            if name in ("x", "alert(1)'"):  # the attribute breaker's leftovers
                self.problems.append(f"<{tag} {name}>")


def markup_problems(html: str) -> list[str]:
    """The elements and attributes of ``html`` that only an injected payload would make."""
    parser = _Markup()
    parser.feed(html)
    parser.close()
    return parser.problems


def formula_cells(cells: Iterable[str]) -> list[str]:
    """The cells a spreadsheet would take for a formula (a lone ``-`` or a negative number is data)."""
    def number(s: str) -> bool:
        try:
            float(s)
            return True
        except ValueError:
            return False

    return [c for c in cells if isinstance(c, str) and c.startswith(FORMULA_START) and c != "-" and not number(c)]
