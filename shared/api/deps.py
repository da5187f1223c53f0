"""Request-scoped access to the shared services."""

from __future__ import annotations

from fastapi import Request

from shared.services import Services, current_services


def services_of(request: Request) -> Services:
    """The app's own services when it was built with some (tests, CLI), else the process's."""
    return request.app.state.services or current_services()
