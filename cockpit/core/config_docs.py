"""The docstring under each config field, read from the source when a description is wanted.

The house style puts a docstring under every field. pydantic can keep them as descriptions
(`use_attribute_docstrings`), but it does so by reading and parsing the source of every model at
import — ~18 ms of every command's start-up. They are needed only by the JSON Schema
(`cockpit config schema`) and the generated reference, so they are read here, then.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import textwrap
from typing import Any, get_args

from pydantic import BaseModel


def field_docs(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> the docstring under it, for `model` and its bases."""
    docs: dict[str, str] = {}
    for cls in model.__mro__:
        if cls is object or cls is BaseModel:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for statement, following in itertools.pairwise(body):
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs.setdefault(statement.target.id, inspect.cleandoc(following.value.value))
    return docs


def models_in(root: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """`root` and every model its fields hold (through lists, dicts and unions), by name."""
    found: dict[str, type[BaseModel]] = {}

    def visit(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation.__name__ in found:
                return
            found[annotation.__name__] = annotation
            for info in annotation.model_fields.values():
                visit(info.annotation)
            return
        for arg in get_args(annotation):
            visit(arg)

    visit(root)
    return found


def describe(schema: dict[str, Any], root: type[BaseModel]) -> dict[str, Any]:
    """Put each field's docstring into `schema` (made by `root.model_json_schema()`) as its
    description, so editors show it on hover."""
    definitions = schema.get("$defs", {})
    for name, model in models_in(root).items():
        target = schema if model is root else definitions.get(name)
        if target is None:
            continue
        properties = target.get("properties", {})
        for field, doc in field_docs(model).items():
            if field in properties:
                properties[field]["description"] = doc
    return schema
