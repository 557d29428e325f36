"""The API's one error shape (`{"error": …, "field": …}`) and its sentences: what a
caller sent wrong is named, never echoed back (an upload's bytes stay out of answers)."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.headers = status, message, field, headers or {}


_KINDS = {"int_type": "a whole number", "int_parsing": "a whole number", "int_from_float": "a whole number",
          "string_type": "a string", "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
          "dict_type": "a JSON object", "model_type": "a JSON object"}


def _num(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def sentence(err: dict, known: list[str] | None = None) -> tuple[str, str | None]:
    """(message, field) of one pydantic validation error, said for people."""
    loc = [str(x) for x in err.get("loc", ()) if x not in ("body",)]
    field = loc[-1] if loc else None
    kind, ctx = err.get("type", ""), err.get("ctx") or {}
    name = field or "the request"
    if kind == "extra_forbidden":
        return f"unknown parameter {field!r}" + (f"; known: {', '.join(known)}" if known else ""), field
    if kind in _KINDS:
        return f"{name} must be {_KINDS[kind]}", field
    if kind in ("less_than_equal", "less_than"):
        return f"{name} must be at most {_num(ctx.get('le', ctx.get('lt')))}", field
    if kind in ("greater_than_equal", "greater_than"):
        return f"{name} must be at least {_num(ctx.get('ge', ctx.get('gt')))}", field
    if kind == "literal_error":
        return f"{name} must be one of {ctx.get('expected', '')}", field
    if kind == "string_too_long":
        return f"{name} must be at most {ctx.get('max_length')} characters", field
    if kind == "missing":
        return f"{name} is missing", field
    return f"{name}: {err.get('msg', 'invalid')}", field
