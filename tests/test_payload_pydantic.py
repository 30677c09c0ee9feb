"""pydantic v2 models as workflow and activity values (the optional ``pydantic`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Generator, List

import pytest

from postgrip_agent import Agent, ApplicationFailure, Client, activity, workflow
from postgrip_agent.errors import WorkflowFailureError
from postgrip_agent.server import LocalServer

pydantic = pytest.importorskip("pydantic")


class Address(pydantic.BaseModel):
    street: str
    zip_code: str


class Customer(pydantic.BaseModel):
    name: str
    age: int = pydantic.Field(ge=0)
    addresses: List[Address]


@activity.defn
def greet_customer(customer: Customer) -> Customer:
    assert isinstance(customer, Customer)
    return customer.model_copy(update={"name": customer.name.upper()})


@workflow.defn
class Onboard:
    @workflow.run
    def run(self, customer: Customer) -> Generator[Any, Any, Customer]:
        return (yield workflow.execute_activity(greet_customer, customer, start_to_close_timeout=10))


def test_pydantic_models_go_in_and_out_and_a_validation_error_names_the_field(tmp_path: Path) -> None:
    ada = Customer(name="ada", age=36, addresses=[Address(street="1 Loop", zip_code="0001")])
    with LocalServer(db=str(tmp_path / "models.db")) as server:
        client = Client.connect(server)
        with Agent(client, task_queue="models", workflows=[Onboard], activities=[greet_customer]):
            result = client.execute_workflow(Onboard, ada, task_queue="models", timeout=30)
            assert isinstance(result, Customer) and result == ada.model_copy(update={"name": "ADA"})
            with pytest.raises(WorkflowFailureError) as failed:
                client.execute_workflow(
                    "Onboard", {"name": "x", "age": -1, "addresses": [{"street": "s"}]}, task_queue="models", timeout=30
                )
    cause = failed.value.cause
    assert isinstance(cause, ApplicationFailure) and cause.non_retryable and cause.type == "PayloadConversionError"
    assert "age: Input should be greater than or equal to 0" in str(cause), str(cause)
    assert "addresses.0.zip_code: Field required" in str(cause), str(cause)
