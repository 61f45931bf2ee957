"""Task forms: JSON Schema checks of submitted data, with one plain-English message per field."""
from __future__ import annotations

from datetime import date
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import SchemaError

from engine.bpmn import form_dates
from engine.bpmn.attachment_fields import FIELD_LIMITS_KEY, WIDGET, field_problem, is_attachment_field
from engine.errors import FormInvalid

_FORMAT_CHECKER = FormatChecker()
_Validator = validators.extend(Draft202012Validator, {form_dates.NOT_BEFORE: form_dates.not_before})
_VALIDATORS: dict[int, tuple[dict, Any]] = {}


def schema_problem(schema: Any, settings: dict | None = None) -> str | None:
    """Why `schema` is not a usable form schema, or None when it is. Attachment fields are checked too, their limits
    against `settings` (settings.yaml) when given."""
    if not isinstance(schema, dict):
        return "a form must be a JSON object (a JSON Schema)"
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as err:
        return f"not a valid JSON Schema: {err.message}"
    if schema.get("type", "object") != "object":
        return 'a form schema must have "type": "object"'
    reason = form_dates.keyword_problem(schema)
    if reason:
        return reason
    return _attachment_problem(schema, settings if isinstance(settings, dict) or settings is None else {}, "")


def _attachment_problem(node: dict, settings: dict | None, prefix: str) -> str | None:
    """The first attachment field (at the top, in groups or list items) that cannot work, and why."""
    properties = node.get("properties") if isinstance(node.get("properties"), dict) else {}
    for name, prop in properties.items():
        if not isinstance(prop, dict):
            continue
        path = prefix + name
        if is_attachment_field(prop):
            reason = field_problem(prop, settings, properties)
            if reason:
                return f"attachment field '{path}': {reason}"
            continue
        if FIELD_LIMITS_KEY in prop:
            return f"field '{path}' has \"{FIELD_LIMITS_KEY}\" but is not an attachment field " \
                   f"(\"x-govflow-widget\": \"{WIDGET}\")"
        found = _attachment_problem(prop, settings, path + ".")
        if found is None and isinstance(prop.get("items"), dict):
            found = _attachment_problem(prop["items"], settings, path + "[].")
        if found:
            return found
    return None


def clean_submission(schema: dict | None, data: Any, today: date | None = None) -> dict:
    """Drop keys starting with `_` (never let a form set engine-internal names) and validate against the schema.
    `today` (the govflow Clock's date in Europe/London) is what "x-govflow-not-before": "today" compares with; a
    caller that sends the form passes it (without it that rule is not checked)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FormInvalid({"": "the submitted data must be an object of field names and values"})
    cleaned = {k: v for k, v in data.items() if isinstance(k, str) and not k.startswith("_")}
    if schema is None:
        return cleaned
    cached = _VALIDATORS.get(id(schema))
    if cached is None or cached[0] is not schema:
        cached = _VALIDATORS[id(schema)] = (schema, _Validator(schema, format_checker=_FORMAT_CHECKER))
    validator = cached[1]
    errors: dict[str, str] = {}
    token = form_dates.TODAY.set(today)
    try:
        found = sorted(validator.iter_errors(cleaned), key=lambda e: list(e.absolute_path))
    finally:
        form_dates.TODAY.reset(token)
    for error in found:
        field = _field_of(error)
        errors.setdefault(field, _message_for(error, schema))
    if errors:
        raise FormInvalid(errors)
    return cleaned


def _field_of(error) -> str:
    path = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        path.append(missing)
    return ".".join(path)


def _node_of(schema: dict, field: str) -> dict:
    node = schema
    for part in field.split("."):
        if not isinstance(node, dict):
            break
        if part.isdigit():
            node = node.get("items", {})
            continue
        node = node.get("properties", {}).get(part, {})
    return node if isinstance(node, dict) else {}


def _title_of(schema: dict, field: str) -> str:
    return _node_of(schema, field).get("title") or field.split(".")[-1].replace("_", " ")


def _missing(title: str, node: dict) -> str:
    """A missing answer, in the GOV.UK manner: "Enter the …" for a named value, "Answer ‘…?’" for a question, and
    "Select" or "Choose" for a choice."""
    if not title:
        return "This field is required"
    chosen = "enum" in node or node.get("type") == "boolean" or "oneOf" in node or node.get("type") == "array"
    if title.rstrip().endswith("?"):
        return f"Choose an answer to ‘{title}’" if chosen else f"Answer ‘{title}’"
    return f"Select {title.lower()}" if chosen else f"Enter {title.lower()}"


def _message_for(error, schema: dict) -> str:
    """The field's own words when its schema has "x-govflow-message", else a message built from its title."""
    if error.validator == form_dates.NOT_BEFORE:
        return form_dates.message(_node_of(schema, _field_of(error)).get("title") or "",
                                  _node_of(schema, _field_of(error)))
    own = _node_of(schema, _field_of(error)).get("x-govflow-message")
    if isinstance(own, str) and own.strip():
        return own
    title = _title_of(schema, _field_of(error))
    kind, value = error.validator, error.validator_value
    if kind == "required" or (kind == "minLength" and value <= 1):
        return _missing(title, _node_of(schema, _field_of(error)))
    if kind == "minLength":
        return f"{title} must be at least {value} characters"
    if kind == "maxLength":
        return f"{title} must be {value} characters or fewer"
    if kind == "minimum":
        return f"{title} must be {value} or more"
    if kind == "maximum":
        return f"{title} must be {value} or less"
    if kind == "enum":
        return f"Select a valid option for {title.lower()}"
    if kind == "type":
        names = {"number": "a number", "integer": "a whole number", "boolean": "yes or no",
                 "string": "text", "array": "a list", "object": "a group of fields"}
        wanted = value if isinstance(value, str) else value[0]
        return f"{title} must be {names.get(wanted, wanted)}"
    if kind == "format":
        return f"{title} must be a real {value.replace('-', ' ')}"
    if kind == "additionalProperties":
        return f"Unexpected field: {error.message.split('(')[-1].rstrip(')')}"
    if kind == "minItems":
        return f"Add at least {value} item{'s' if value != 1 else ''} to {title.lower()}"
    return f"{title}: {error.message}"
