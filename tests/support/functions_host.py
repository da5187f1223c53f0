"""Our side of the Functions host contract, built from the real `azure.functions` pieces.

Core Tools cannot be installed here, so the tests do what the host and the Python worker
do around our code: index the app in a fresh process, apply the worker's binding checks
with the library's own converter registry, and build trigger inputs with the real
converters from payloads shaped like the host's.
"""

from __future__ import annotations

import functools
import inspect
import json
import subprocess
import sys
import typing
from dataclasses import dataclass
from datetime import datetime

import azure.functions as func
from azure.functions import meta
from azure.functions.blob import BlobConverter
from azure.functions.eventhub import EventHubTriggerConverter

from tests.support.paths import ROOT

_INDEX_SCRIPT = """
import json, function_app
from tests.support.functions_host import worker_problems
functions = function_app.app.get_functions()
print(json.dumps([{
    "name": f.get_function_name(),
    "function_json": json.loads(f.get_function_json()),
    "retry": f.get_settings_dict("retry_policy"),
    "problems": worker_problems(f),
} for f in functions]))
"""


def index_in_fresh_process(env: dict[str, str]) -> list[dict]:
    """What the worker sees when the host starts it: import, index, validate."""
    done = subprocess.run([sys.executable, "-c", _INDEX_SCRIPT], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise AssertionError(f"indexing failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@functools.cache
def _app_functions() -> dict[str, typing.Callable[..., typing.Any]]:
    """The app's functions, indexed once (an app object may be indexed only once)."""
    import function_app

    return {f.get_function_name(): f.get_user_function()
            for f in function_app.app.get_functions()}


def app_function(name: str) -> typing.Callable[..., typing.Any]:
    """The function the worker invokes for `function_app.py`'s Function `name`."""
    return _app_functions()[name]


def worker_problems(function: func.FunctionApp) -> list[str]:
    """The Python worker's checks when it loads an indexed function (parameters match the
    bindings; each annotation is one the binding's converter accepts; one trigger)."""
    problems: list[str] = []
    user_function = function.get_user_function()
    hints = typing.get_type_hints(user_function)
    parameters = inspect.signature(user_function).parameters
    bindings = {b.name: b for b in function.get_bindings()}
    for name in parameters:
        if name not in bindings and hints.get(name) is not func.Context:
            problems.append(f"parameter {name!r} has no binding")
    triggers = [b for b in bindings.values() if b.type.endswith("Trigger")]
    if len(triggers) != 1:
        problems.append(f"expected one trigger, found {len(triggers)}")
    for name, binding in bindings.items():
        converter = meta._ConverterMeta.get(binding.type)
        if converter is None:
            problems.append(f"no converter for binding type {binding.type!r}")
        elif name == "$return":
            if not converter.check_output_type_annotation(hints.get("return")):
                problems.append(f"return annotation not accepted by {binding.type}")
        elif name not in parameters:
            problems.append(f"binding {name!r} has no parameter")
        elif not converter.check_input_type_annotation(hints[name]):
            problems.append(f"{name}: {hints[name]!r} not accepted by {binding.type}")
        elif binding.type.endswith("Trigger") and not converter.has_trigger_support():
            problems.append(f"{binding.type} converter cannot trigger")
    return problems


@dataclass
class CollectionBytes:
    """The gRPC `CollectionBytes` message the host sends for dataType binary, many."""

    bytes: list[bytes]


def eventhub_events(bodies: list[bytes], *, partition: str, first_sequence: int,
                    enqueued_at: datetime) -> list[func.EventHubEvent]:
    """Events as the worker hands them to a cardinality-many, binary Event Hub trigger."""
    enqueued = enqueued_at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"  # .NET's 7 digits
    system_properties = [
        {"SequenceNumber": first_sequence + i, "Offset": str(4096 * (first_sequence + i)),
         "EnqueuedTimeUtc": enqueued, "PartitionKey": None}
        for i in range(len(bodies))
    ]
    metadata = {
        "PartitionContext": meta.Datum(json.dumps({
            "ConsumerGroup": "$Default", "EventHubName": "shop-events",
            "FullyQualifiedNamespace": "shop.servicebus.windows.net",
            "PartitionId": partition}), "json"),
        "SystemPropertiesArray": meta.Datum(json.dumps(system_properties), "json"),
        "SequenceNumberArray": meta.Datum(json.dumps(
            [p["SequenceNumber"] for p in system_properties]), "json"),
        "EnqueuedTimeUtcArray": meta.Datum(json.dumps([enqueued] * len(bodies)), "json"),
        "PropertiesArray": meta.Datum(json.dumps([{}] * len(bodies)), "json"),
    }
    data = meta.Datum(CollectionBytes(list(bodies)), "collection_bytes")
    return EventHubTriggerConverter.decode(data, trigger_metadata=metadata)


def blob_trigger_input(blob_name: str, data: bytes) -> func.blob.InputStream:
    """The `InputStream` the worker hands a blob trigger: `name` is "container/path"."""
    metadata = {
        "BlobTrigger": meta.Datum(blob_name, "string"),
        "Uri": meta.Datum(f"http://127.0.0.1:10000/devstoreaccount1/{blob_name}", "string"),
        "Properties": meta.Datum(json.dumps({"ContentLength": len(data)}), "json"),
    }
    return BlobConverter.decode(meta.Datum(data, "bytes"), trigger_metadata=metadata)


class InvocationContext(func.Context):
    """The worker's per-invocation context, as far as our functions use it."""

    def __init__(self, function_name: str) -> None:
        self._function_name = function_name

    @property
    def invocation_id(self) -> str:
        return "00000000-0000-0000-0000-000000000001"

    @property
    def thread_local_storage(self) -> typing.Any:
        return None

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return str(ROOT)

    @property
    def trace_context(self) -> typing.Any:
        return None

    @property
    def retry_context(self) -> typing.Any:
        return None
