"""The layering of ``docs/architecture.md``, checked on the package's own imports (read from source)."""

from __future__ import annotations

import subprocess
import sys

from .import_graph import Edge, edges, violations


def test_no_import_breaks_the_layering() -> None:
    graph = edges()
    assert len(graph) > 300  # the walk found the package's imports
    assert violations(graph) == []


def test_each_rule_catches_what_it_names() -> None:
    def edge(source: str, target: str, *names: str) -> Edge:
        return Edge(source, target, names, 1, False)

    found = violations(
        [
            edge("types", "client", "Client"),  # upward, and with the next one a cycle
            edge("client", "types", "Task"),
            edge("agent.lane", "handle", "_connection_of"),  # a private name from another package
            edge("workflow", "agent.agent", "Agent"),  # workflow code reaching the agent
            edge("server.store.sql", "server.engine.core", "Fence"),  # the store above the engine
            edge("server.http.api", "client", "Client"),  # the service on the client side
        ]
    )
    assert found == [
        "import cycle: client -> types",
        "types:1 imports client: types may not import client",
        "agent.lane:1 takes private _connection_of from handle (another package)",
        "workflow:1 imports agent.agent: workflow code never imports the client or agent side",
        "server.store.sql:1 imports server.engine.core: store may not import engine",
        "server.http.api:1 imports client: the service imports only types from the SDK side",
    ]


def test_the_package_imports_where_unix_only_modules_are_missing() -> None:
    code = (
        "import sys; sys.modules['resource'] = None; sys.modules['fcntl'] = None; "
        "import postgrip_agent.pytest_plugin, postgrip_agent.server, postgrip_agent.testing"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
