"""Fixture app: SDK-type blob bindings (azurefunctions-extensions-bindings-blob), as the
extension's own samples use them. The container comes from the C_SDK setting; the input
reads it through the connection `SdkStorage` (the setting AzureWebJobsSdkStorage)."""

import json
import logging

import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def kind(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


@app.blob_trigger(arg_name="client", path="%C_SDK%/{name}", connection="AzureWebJobsStorage")
def sdk_trigger(client: blob.BlobClient) -> None:
    properties = client.get_blob_properties()
    logging.info(
        "SDKBLOB %s",
        json.dumps(
            {
                "type": kind(client),
                "container": client.container_name,
                "name": client.blob_name,
                "size": properties.size,
                "content": client.download_blob().readall().decode(),
            }
        ),
    )


@app.route(route="sdk/{name}", methods=["GET"])
@app.blob_input(arg_name="container", path="%C_SDK%/{name}", connection="SdkStorage")
@app.blob_input(arg_name="stream", path="%C_SDK%/{name}", connection="SdkStorage")
def sdk_input(
    req: func.HttpRequest,
    container: blob.ContainerClient,
    stream: blob.StorageStreamDownloader,
) -> func.HttpResponse:
    body = {
        "container_type": kind(container),
        "container": container.container_name,
        "names": sorted(b.name for b in container.list_blobs()),
        "stream_type": kind(stream),
        "stream_name": stream.name,
        "content": stream.readall().decode(),
    }
    return func.HttpResponse(json.dumps(body), mimetype="application/json")
