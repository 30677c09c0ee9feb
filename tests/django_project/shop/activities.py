"""Found by ``manage.py postgrip_agent``; it uses the Django database."""

from django.db import connection

from postgrip_agent import activity


@activity.defn
def record_payment(order_id: str, amount: int) -> str:
    with connection.cursor() as cursor:  # a fresh connection per activity (close_old_connections around it)
        cursor.execute("SELECT %s * 2", [amount])
        doubled = cursor.fetchone()[0]
    return f"order {order_id}: paid {amount} (checked {doubled})"
