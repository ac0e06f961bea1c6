"""The background-jobs function app (Azure Functions, Python v2 programming model).

Deploys unchanged with `func azure functionapp publish <app> --python`, and runs locally
with `make run` (funchost). Each job family is a blueprint in functions/.
"""

import azure.functions as func

from functions import health

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(health.bp)
