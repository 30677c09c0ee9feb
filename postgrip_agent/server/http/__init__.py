"""The HTTP wing of the service: connections and framing (``conn``, ``framing``), the
routes and their handlers (``api``, ``schedules``), the wire JSON of records
(``wire``) and the in-process adapter (``inprocess``). It calls the engine's public
methods; the engine never imports it.
"""

from .api import Api, make_http_server
from .conn import HttpServer
from .inprocess import InProcessAdapter

__all__ = ["Api", "HttpServer", "InProcessAdapter", "make_http_server"]
