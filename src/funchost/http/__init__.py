"""The HTTP side of the host: routes, keys and authorization, the admin API, the server.

May import `funchost.core` and `funchost.config`; the HTTP trigger plug-in registers its
routes here, and the admin API reaches listeners only through the small protocols it
declares.
"""
