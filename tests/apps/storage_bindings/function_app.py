"""Fixture app: blob trigger, blob and table bindings. Names come from settings."""

import json
import logging

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.blob_trigger(arg_name="blob", path="%C_IN%/{name}.{ext}", connection="AzureWebJobsStorage")
@app.blob_output(
    arg_name="thumb", path="%C_OUT%/{name}-thumb.{ext}", connection="AzureWebJobsStorage"
)
def thumbnail(blob: func.InputStream, thumb: func.Out[bytes]) -> None:
    data = blob.read()
    logging.info(
        "BLOB %s",
        json.dumps(
            {
                "name": blob.name,
                "uri": blob.uri,
                "length": blob.length,
                "metadata": blob.metadata,
                "read": len(data),
                "content_type": (blob.blob_properties or {}).get("ContentType"),
            }
        ),
    )
    thumb.set(data[::-1])


@app.blob_trigger(arg_name="blob", path="%C_FAIL%/{name}", connection="AzureWebJobsStorage")
def blob_fail(blob: func.InputStream) -> None:
    logging.info("BLOBFAIL %s", blob.name)
    raise RuntimeError("cannot process this blob")


@app.blob_trigger(arg_name="blob", path="%C_BIG%/{name}", connection="AzureWebJobsStorage")
@app.blob_output(arg_name="copy", path="%C_BIG%-out/{name}", connection="AzureWebJobsStorage")
def big_copy(blob: func.InputStream, copy: func.Out[func.InputStream]) -> None:
    # A file-like object: read once by the library's encoder. (The test measures the
    # memory the invocation allocates.)
    copy.set(blob)
    logging.info("BIG %s", blob.length)


@app.queue_trigger(arg_name="msg", queue_name="%Q_BLOBREQ%", connection="AzureWebJobsStorage")
@app.blob_input(arg_name="source", path="%C_IN%/{BlobName}", connection="AzureWebJobsStorage")
@app.blob_output(
    arg_name="target", path="%C_OUT%/copy-{BlobName}", connection="AzureWebJobsStorage"
)
def copy_by_name(msg: func.QueueMessage, source: func.InputStream, target: func.Out[str]) -> None:
    if source is None:
        logging.info("NOSOURCE %s", msg.get_json()["BlobName"])
        return
    text = source.read().decode()
    logging.info("COPY %s %d", msg.get_json()["BlobName"], len(text))
    target.set(text.upper())


@app.route(route="entities", methods=["POST"])
@app.table_output(
    arg_name="rows",
    table_name="%T_NAME%",
    partition_key="default-pk",
    connection="AzureWebJobsStorage",
)
def add_entities(req: func.HttpRequest, rows: func.Out[str]) -> func.HttpResponse:
    rows.set(req.get_body().decode())
    return func.HttpResponse(status_code=201)


@app.route(route="entities/{pk}/{rk}", methods=["GET"])
@app.table_input(
    arg_name="row",
    table_name="%T_NAME%",
    partition_key="{pk}",
    row_key="{rk}",
    connection="AzureWebJobsStorage",
)
def get_entity(req: func.HttpRequest, row: str) -> func.HttpResponse:
    # On Azure the row key does not select: `row` is the JSON array of the partition's
    # entities (python-worker #1231, #1725). Code written for one object breaks there.
    wanted = [e for e in json.loads(row) if e["RowKey"] == req.route_params["rk"]]
    if not wanted:
        return func.HttpResponse("null", status_code=404, mimetype="application/json")
    return func.HttpResponse(json.dumps(wanted[0]), mimetype="application/json")


@app.route(route="partition/{pk}/{rk}", methods=["GET"])
@app.table_input(
    arg_name="rows",
    table_name="%T_NAME%",
    partition_key="{pk}",
    row_key="{rk}",
    connection="AzureWebJobsStorage",
)
def by_keys_raw(req: func.HttpRequest, rows: str) -> func.HttpResponse:
    return func.HttpResponse(rows, mimetype="application/json")


@app.route(route="entities/{pk}", methods=["GET"])
@app.table_input(
    arg_name="rows",
    table_name="%T_NAME%",
    partition_key="{pk}",
    take=2,
    filter="Size gt 1",
    connection="AzureWebJobsStorage",
)
def list_entities(req: func.HttpRequest, rows: str) -> func.HttpResponse:
    return func.HttpResponse(rows, mimetype="application/json")
