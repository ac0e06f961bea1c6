"""The HTTP side of the host: routes, keys and authorization, the admin API, the server,
and the operator's dashboard at `/admin/dashboard` (`funchost.http.dashboard`).

May import `funchost.core` and `funchost.config`, and the names and records of
`funchost.storage` and `funchost.timer` (the dashboard reads queues, poison queues, timer
status blobs and lock blobs where the plug-ins write them); the HTTP trigger plug-in
registers its routes here, and the admin API reaches listeners only through the small
protocols it declares. The poison tools and the status-table reader are `funchost.ops`.
"""
