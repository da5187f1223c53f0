"""The HTTP API: one FastAPI app, served by Azure Functions (ASGI) and by `shoplake serve`."""

from shared.api.app import create_app

__all__ = ["create_app"]
