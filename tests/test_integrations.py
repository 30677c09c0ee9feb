"""The SDK inside a WSGI app, its typing, and its packaging."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from postgrip_agent import Client

ROOT = Path(__file__).resolve().parents[1]


def test_flask_view_starts_a_workflow(env: Any) -> None:
    flask = pytest.importorskip("flask")
    app = flask.Flask(__name__)
    client = Client.connect(env.address)  # one per process, shared by every request thread

    @app.post("/orders/<order_id>")
    def create_order(order_id: str) -> Any:
        handle = client.start_workflow("OrderWorkflow", flask.request.get_json(), id=f"order-{order_id}", task_queue="orders")
        return {"workflow_id": handle.id, "run_id": handle.result_run_id}, 202

    response = app.test_client().post("/orders/42", json={"sku": "pen"})
    assert response.status_code == 202
    body = response.get_json()
    assert body["workflow_id"] == "order-42"
    run = env.client.get_workflow_handle("order-42").describe()
    assert run.run_id == body["run_id"] and run.queue == "orders"
    history = env.client.get_workflow_handle("order-42").fetch_history().events
    assert history[0].attributes == {"workflow_type": "OrderWorkflow", "args": [{"sku": "pen"}], "attempt": 1}


def test_mypy_is_clean_on_the_package() -> None:
    pytest.importorskip("mypy")
    result = subprocess.run([sys.executable, "-m", "mypy", "postgrip_agent"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_wheel_ships_py_typed(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy, so a stale build/ folder of the checkout cannot fill the gaps
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv*", "*-venv", "build", "*.egg-info", "__pycache__", ".mypy_cache", ".pytest_cache", "site"
        ),
    )
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    wheel = next(tmp_path.glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "postgrip_agent/py.typed" in names
    assert "postgrip_agent/server/engine/tasks.py" in names and "postgrip_agent/server/store/sql.py" in names
    sources = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "postgrip_agent").rglob("*.py"))
    missing = [name for name in sources if name not in names]
    assert not missing, f"the wheel leaves out {missing} (a folder without __init__.py is not found by packages = find:)"
