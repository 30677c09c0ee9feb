"""Checks response bodies against ../shared/contract/openapi.json (when it is there)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Pattern, Tuple

import jsonschema

CONTRACT_PATH = Path(__file__).resolve().parents[2] / "shared" / "contract" / "openapi.json"


class Contract:
    def __init__(self, path: Path = CONTRACT_PATH) -> None:
        self.doc = json.loads(path.read_text())
        self.operations: List[Tuple[str, Pattern[str], Dict[str, Any]]] = []
        for template, ops in self.doc["paths"].items():
            pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
            for method, op in ops.items():
                if method != "parameters":
                    self.operations.append((method.upper(), pattern, op))
        # literal paths first so /workflows/count wins over /workflows/{id}
        self.operations.sort(key=lambda item: item[1].pattern.count("[^/]+"))

    def response_schema(self, method: str, path: str, status: int) -> Optional[Dict[str, Any]]:
        for op_method, pattern, op in self.operations:
            if op_method == method and pattern.match(path):
                responses = op["responses"]
                response = responses.get(str(status)) or responses.get("default")
                if response is None:
                    raise AssertionError(f"{method} {path}: status {status} is not in the contract")
                if "$ref" in response:
                    response = self._resolve(response["$ref"])
                content = response.get("content", {}).get("application/json")
                return None if content is None else content["schema"]
        raise AssertionError(f"{method} {path} is not an operation of the contract")

    def _resolve(self, ref: str) -> Any:
        node: Any = self.doc
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return node

    def validate(self, method: str, path: str, status: int, body: Any) -> None:
        schema = self.response_schema(method, path, status)
        if schema is not None:
            self.validate_schema(schema, body)

    def validate_component(self, name: str, body: Any) -> None:
        """Check a body against one of the contract's component schemas (e.g. ``Task`` inside an extension's answer)."""
        self.validate_schema({"$ref": f"#/components/schemas/{name}"}, body)

    def validate_schema(self, schema: Dict[str, Any], body: Any) -> None:
        root = {"$schema": "https://json-schema.org/draft/2020-12/schema", "components": self.doc["components"], **schema}
        jsonschema.validate(body, root, cls=jsonschema.Draft202012Validator)


def load_contract() -> Optional[Contract]:
    return Contract() if CONTRACT_PATH.exists() else None
