"""Fixture app: a plain WSGI app served through WsgiFunctionApp."""

import azure.functions as func


def wsgi(environ, start_response):
    body = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}?{environ['QUERY_STRING']}"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]


app = func.WsgiFunctionApp(app=wsgi, http_auth_level=func.AuthLevel.ANONYMOUS)
