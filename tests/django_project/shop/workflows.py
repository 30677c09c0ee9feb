"""Found by ``manage.py postgrip_agent`` (autodiscovery of ``workflows.py``)."""

from datetime import timedelta
from typing import Any

from postgrip_agent import workflow

from .activities import record_payment


@workflow.defn
class ShopOrder:
    def __init__(self) -> None:
        self.status = "waiting for payment"
        self.amount = 0

    @workflow.run
    def run(self, order_id: str):  # type: ignore[no-untyped-def]
        yield workflow.condition(lambda: self.amount > 0)
        self.status = "recording"
        receipt: Any = yield workflow.execute_activity(
            record_payment, order_id, self.amount, start_to_close_timeout=timedelta(seconds=10)
        )
        self.status = "paid"
        return receipt

    @workflow.signal
    def pay(self, amount: int) -> None:
        self.amount = amount

    @workflow.query
    def state(self) -> str:
        return self.status
