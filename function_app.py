"""The background-jobs function app (Azure Functions, Python v2 programming model).

Deploys unchanged with `func azure functionapp publish <app> --python`, and runs locally
with `make run` (funchost, Azurite and the Service Bus emulator). Each job family is a
blueprint in functions/. The same code is deployed twice: as the API app (the HTTP
functions) and as the jobs app (the rest), each disabling the other's functions with
`AzureWebJobs.<name>.Disabled` settings (infra/main.bicep, README "Two apps").
"""

import azure.functions as func

from functions import (
    api,
    batch,
    dispatch,
    health,
    orders,
    reports,
    results,
    retention,
    sensitive,
    supervise,
    thumbnails,
)

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (
    health.bp,
    api.bp,
    dispatch.bp,
    orders.bp,
    batch.bp,
    thumbnails.bp,
    reports.bp,
    sensitive.bp,
    results.bp,
    retention.bp,
    supervise.bp,
):
    app.register_functions(blueprint)
