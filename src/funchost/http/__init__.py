"""The HTTP side of the host: routes, keys and authorization, the admin API, the server."""
