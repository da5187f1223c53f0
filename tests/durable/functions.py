"""The nightly blueprint's Functions, as an app registering it indexes them (wired to the
process's services, as `function_app.py` wires it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import azure.durable_functions as df
from azure.functions.decorators.function_app import Function

from durable.activities import NightlyServices
from durable.blueprint import nightly_blueprint
from shoplake.services import current_services


def nightly_functions(services: Callable[[], NightlyServices] = current_services
                      ) -> dict[str, Function]:
    """Every Function of the blueprint by name, built as the app builds them."""
    app = df.DFApp()
    app.register_functions(nightly_blueprint(services))
    return {function.get_function_name(): function for function in app.get_functions()}


def user_function(name: str) -> Callable[..., Any]:
    """The function the worker invokes for Function `name`."""
    return nightly_functions()[name].get_user_function()
