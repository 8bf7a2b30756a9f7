"""JSON Schemas (draft 2020-12) for every input event and output, generated from the structs."""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import sys
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Final

import msgspec

from streams.core.alerts import Alert
from streams.core.events import EVENT_TYPES, TOPICS
from streams.core.outputs import DeadLetter, SellerSnapshot

Schema = dict[str, Any]

DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
BASE_ID: Final = "https://sellerperf.example/schemas/"
DEFAULT_ROOT: Final = Path(__file__).resolve().parents[2] / "schemas"
OUTPUTS: Final[dict[str, type[msgspec.Struct]]] = {
    "alert": Alert,
    "seller_snapshot": SellerSnapshot,
    "dead_letter": DeadLetter,
}
# The decoder (msgspec) takes RFC 3339 minus three things JSON Schema's `date-time` allows:
# year 0000, leap second 60, and a local time in the last half-microsecond of 9999 (it rounds
# fractions to microseconds, which overflows there). This pattern says so, and also asserts
# the RFC 3339 syntax for validators that treat `format` as an annotation only (the 2020-12
# default). Digits are [0-9], never \d (Unicode digits in Python); `$(?!\n)` is the end of
# the string both in ECMA-262 and in Python, where a bare `$` also matches before a final \n.
DATE_TIME_PATTERN: Final = (
    r"^(?!0000)(?!9999-12-31[Tt]23:59:59\.999999[5-9])"
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]"
    r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?"
    r"([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$(?!\n)"
)


@cache
def attribute_docs(cls: type) -> Mapping[str, str]:
    """Per-field docstrings (a string literal right after `name: type`); subclasses win."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not issubclass(klass, msgspec.Struct) or klass is msgspec.Struct:
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0]
        if not isinstance(body, ast.ClassDef):
            continue
        for stmt, nxt in zip(body.body, body.body[1:], strict=False):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[stmt.target.id] = inspect.cleandoc(nxt.value.value)
    return docs


def struct_classes(roots: Iterable[Any]) -> dict[str, type]:
    """Every Struct class reachable from the root types, by name (msgspec's component name)."""
    found: dict[str, type] = {}
    stack: list[Any] = list(msgspec.inspect.multi_type_info(list(roots)))
    while stack:
        node = stack.pop()
        if isinstance(node, msgspec.inspect.StructType):
            if node.cls.__name__ not in found:
                found[node.cls.__name__] = node.cls
                stack.extend(f.type for f in node.fields)
            continue
        for name in getattr(node, "__struct_fields__", ()):
            value = getattr(node, name)
            if isinstance(value, msgspec.inspect.Type):
                stack.append(value)
            elif isinstance(value, tuple):
                stack.extend(v for v in value if isinstance(v, msgspec.inspect.Type))
    return found


def _tighten_date_times(node: Any) -> None:
    """Add DATE_TIME_PATTERN next to every `format: date-time`, in place."""
    if isinstance(node, dict):
        if node.get("format") == "date-time" and node.get("type") == "string":
            node["pattern"] = DATE_TIME_PATTERN
        for value in node.values():
            _tighten_date_times(value)
    elif isinstance(node, list):
        for value in node:
            _tighten_date_times(value)


def components(roots: Sequence[Any]) -> dict[str, Schema]:
    """msgspec's schemas of the roots' structs, with field docs and tightened date-times."""
    _, comps = msgspec.json.schema_components(roots, ref_template="#/$defs/{name}")
    classes = struct_classes(roots)
    for name, comp in comps.items():
        cls = classes.get(name)
        docs: Mapping[str, str] = attribute_docs(cls) if cls is not None else {}
        for field, prop in comp.get("properties", {}).items():
            if field in docs:
                # The field's own docstring replaces the shared alias's generic text; the
                # alias's constraints (pattern, format, lengths) still say what it accepts.
                prop["description"] = docs[field]
        _tighten_date_times(comp)
    return comps


def _document(id_path: str, title: str, description: str, body: Schema) -> Schema:
    """A top-level schema: dialect, $id, title and description around a body."""
    return {
        **body,
        "$schema": DIALECT,
        "$id": BASE_ID + id_path,
        "title": title,
        "description": description,
    }


def struct_schema(id_path: str, cls: type[msgspec.Struct]) -> Schema:
    """One struct as a standalone document; structs it refers to go under $defs."""
    comps = components([cls])
    body = comps.pop(cls.__name__)
    if comps:
        body["$defs"] = comps
    return _document(id_path, cls.__name__, body.pop("description", cls.__name__), body)


def union_schema(id_path: str, title: str, description: str, types: Sequence[str]) -> Schema:
    """Exactly one of the event types, chosen by the `type` field."""
    classes = [EVENT_TYPES[t] for t in types]
    body: Schema = {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": sorted(types)}},
        "oneOf": [{"$ref": f"#/$defs/{cls.__name__}"} for cls in classes],
        "$defs": components(classes),
    }
    return _document(id_path, title, description, body)


def generate() -> dict[str, Schema]:
    """Every schema, by path relative to the schemas directory."""
    out: dict[str, Schema] = {}
    for tag, cls in sorted(EVENT_TYPES.items()):
        out[f"events/{tag}.json"] = struct_schema(f"events/{tag}.json", cls)
    for topic, types in sorted(TOPICS.items()):
        path = f"topics/{topic}.json"
        text = f"An event on the `{topic}` topic: one of {', '.join(types)}, chosen by `type`."
        out[path] = union_schema(path, f"Topic {topic}", text, types)
    text = "Any input event: one of the event types, chosen by `type`."
    out["event.json"] = union_schema("event.json", "Event", text, sorted(EVENT_TYPES))
    for name, output in OUTPUTS.items():
        out[f"outputs/{name}.json"] = struct_schema(f"outputs/{name}.json", output)
    return out


def render(schema: Schema) -> str:
    """The canonical text of a schema: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _stale_files(root: Path, expected: Iterable[str]) -> list[str]:
    """Schema files under root's generated directories that would not be generated."""
    keep = set(expected)
    found = [p for d in ("events", "topics", "outputs") for p in (root / d).glob("*.json")]
    return sorted(rel for p in found if (rel := p.relative_to(root).as_posix()) not in keep)


def write(root: Path) -> list[Path]:
    """Write every schema under root (only files whose text changed); delete stale ones."""
    written: list[Path] = []
    schemas = generate()
    for rel, schema in schemas.items():
        path = root / rel
        text = render(schema)
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    for rel in _stale_files(root, schemas):
        (root / rel).unlink()
    return written


def check(root: Path) -> list[str]:
    """Relative paths that are missing, differ from what would be generated, or are stale."""
    schemas = generate()
    differ = [
        rel
        for rel, schema in schemas.items()
        if not (root / rel).is_file() or (root / rel).read_text(encoding="utf-8") != render(schema)
    ]
    return sorted(differ + _stale_files(root, schemas))


def main(argv: Sequence[str] | None = None) -> int:
    """Write the schemas, or with --check report stale ones and return 1."""
    parser = argparse.ArgumentParser(prog="python -m streams.offline.schemas", description=__doc__)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="schemas directory")
    parser.add_argument("--check", action="store_true", help="exit 1 if files are stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = check(args.root)
        for rel in stale:
            print(f"stale: {args.root / rel}", file=sys.stderr)
        if stale:
            print("regenerate with: python -m streams.offline.schemas", file=sys.stderr)
        return 1 if stale else 0
    for path in write(args.root):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
