"""Azure Functions entry point: wiring only.

Each function turns binding objects into plain values and calls below (`shoplake`'s
services, `shared`); the logic, and every setting it needs, lives there. The nightly
orchestration's functions come from `durable.blueprint`, handed the process's services.
Importing this module does no I/O.
"""

from __future__ import annotations

from typing import List  # noqa: UP035 - the worker's converters reject `list[...]` annotations

import azure.durable_functions as df
import azure.functions as func

from durable.blueprint import nightly_blueprint
from shared.events import EventBatch
from shared.settings import current_settings
from shoplake.api import create_app, customer_recommendations_json
from shoplake.services import current_services

app = df.DFApp(http_auth_level=func.AuthLevel(current_settings().http_auth_level))
app.register_functions(nightly_blueprint(current_services))
_asgi = func.AsgiMiddleware(create_app())


@app.function_name("http_api")
@app.route(route="{*route}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
async def http_api(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Every /api/* route, served by the FastAPI app."""
    return await _asgi.handle_async(req, context)


# The hottest route gets its own function (more specific than http_api's catch-all, so the
# host routes it here): the same answers as the FastAPI route, without FastAPI's overhead.
@app.function_name("get_recommendations")
@app.route(route="recommendations/{customer_id}", methods=["GET"])
def get_recommendations(req: func.HttpRequest) -> func.HttpResponse:
    status, body = customer_recommendations_json(
        current_services().recommender, req.route_params["customer_id"], req.params.get("k"))
    return func.HttpResponse(body, status_code=status, mimetype="application/json")


# Bad events are quarantined, never raised; an exception here means storage failed, so the
# batch is retried (forever, backing off) rather than checkpointed past and lost.
@app.function_name("ingest_events")
@app.retry(strategy="exponential_backoff", max_retry_count="-1",
           minimum_interval="00:00:05", maximum_interval="00:05:00")
@app.event_hub_message_trigger(
    arg_name="events",
    event_hub_name="%EVENTHUB_NAME%",
    connection="EVENTHUB_CONNECTION",
    consumer_group="%EVENTHUB_CONSUMER_GROUP%",
    cardinality=func.Cardinality.MANY,
    data_type=func.DataType.BINARY,
)
def ingest_events(events: List[func.EventHubEvent]) -> None:  # noqa: UP006 - see import
    current_services().ingest(EventBatch.from_eventhub(
        _partition_id(events),
        [event.get_body() for event in events],
        [event.sequence_number for event in events],
        [event.enqueued_time for event in events],
    ))


# Flex Consumption needs the Event Grid source. Locally (Azurite has no Event Grid) invoke it
# through the host's admin endpoint or run `shoplake ingest-batch`; see docs/local-development.md.
@app.function_name("on_batch_file")
@app.blob_trigger(arg_name="upload", path="%BATCH_UPLOAD_PATH%/{dataset}/{name}",
                  connection="LAKE_STORAGE", source=func.BlobSource.EVENT_GRID)
def on_batch_file(upload: func.blob.InputStream) -> None:
    # Only the name is used: the runner streams the file from the lake itself.
    current_services().process_upload(upload.name)


def _partition_id(events: List[func.EventHubEvent]) -> str:  # noqa: UP006 - see import
    # Batch files are named by partition: guessing one could overwrite another's files.
    context = (events[0].metadata or {}).get("PartitionContext") or {}
    if "PartitionId" not in context:
        raise RuntimeError("Event Hubs trigger metadata has no PartitionContext.PartitionId; "
                           "use the Event Hubs extension 5.x (extension bundle 4.x)")
    return str(context["PartitionId"])
