"""Views that start, signal and query the shop's workflow through the shared client."""

import json

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from postgrip_agent.contrib.django import get_client


@csrf_exempt
def create(request: HttpRequest, order_id: str) -> JsonResponse:
    # start the workflow once the view's own writes are committed (it may read them)
    transaction.on_commit(lambda: get_client().start_workflow("ShopOrder", order_id, id=f"shop-{order_id}"))
    return JsonResponse({"workflow_id": f"shop-{order_id}"}, status=202)


@csrf_exempt
def pay(request: HttpRequest, order_id: str) -> JsonResponse:
    get_client().get_workflow_handle(f"shop-{order_id}").signal("pay", json.loads(request.body)["amount"])
    return JsonResponse({"ok": True})


def show(request: HttpRequest, order_id: str) -> JsonResponse:
    return JsonResponse({"state": get_client().get_workflow_handle(f"shop-{order_id}").query("state")})


urlpatterns = [
    path("orders/<str:order_id>", create),
    path("orders/<str:order_id>/pay", pay),
    path("orders/<str:order_id>/state", show),
]
