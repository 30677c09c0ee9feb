"""Contract fuzzing: schemathesis generates requests for every in-scope operation of the
contract; the service never answers 5xx, and every answer is valid against the contract.

Run by ``test_contract_fuzz.py`` in a pytest process of its own, with the schemathesis and
hypothesis plugins the main run leaves out (loading them costs every worker seconds of CPU)."""

from __future__ import annotations

from typing import Any, Iterator, List
from urllib.parse import urlsplit

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from postgrip_agent.server import LocalServer  # noqa: E402

from .contract import CONTRACT_PATH, Contract  # noqa: E402

if not CONTRACT_PATH.exists():  # pragma: no cover - CI always has ../shared beside the checkout
    pytest.skip("the contract (../shared/contract/openapi.json) is not beside this checkout", allow_module_level=True)

CONTRACT = Contract()
#: sandboxes and workspaces are outside the local service (it answers 501 for them)
schema = schemathesis.openapi.from_path(str(CONTRACT_PATH)).exclude(path_regex="sandbox|workspace")
EXAMPLES_PER_OPERATION = 15
sent: List[int] = []


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[LocalServer]:
    with LocalServer(db=":memory:", port=0) as server:
        yield server


@pytest.fixture
def sent_for_operation() -> Iterator[None]:
    """Each operation's test really sent generated requests (hypothesis calls the test once per example)."""
    before = len(sent)
    yield
    assert len(sent) > before, "no generated request was sent for this operation"


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_generated_requests_get_valid_non_5xx_answers(case: Any, fuzz_server: LocalServer, sent_for_operation: None) -> None:
    if case.query and "wait_seconds" in case.query:
        case.query["wait_seconds"] = 0  # a long-poll would only make the run slow
    response = case.call(base_url=fuzz_server.address, timeout=10)
    sent.append(response.status_code)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
    if response.status_code != 405:
        CONTRACT.validate(case.method.upper(), urlsplit(response.request.url).path, response.status_code, response.json())
