"""The HTTP API: one FastAPI app, served by Azure Functions (ASGI) and by `shoplake serve`."""

from shoplake.api.app import create_app
from shoplake.api.recommendations import customer_recommendations_json

__all__ = ["create_app", "customer_recommendations_json"]
