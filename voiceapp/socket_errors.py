"""What sending on a WebSocket the other side has closed raises, by ASGI server: Daphne
(autobahn) raises Disconnected, uvicorn raises ClientDisconnected. Either tells a call that its
carrier is gone."""

from autobahn.exception import Disconnected
from uvicorn.protocols.utils import ClientDisconnected

SOCKET_CLOSED = (Disconnected, ClientDisconnected)
