"""Worker processes: the app runs in its own interpreter, in N processes, as on Azure.

The real host starts `FUNCTIONS_WORKER_PROCESS_COUNT` Python worker processes and talks to
them over gRPC (H `Workers/Rpc/RpcFunctionInvocationDispatcher.cs`); the host keeps the
triggers, bindings, HTTP, settlement and logging, the workers import the app and run its
functions. Here the same split, over length-prefixed pickle frames on a socket pair:

- `interpreter`: which Python runs the app, and how many processes (host side);
- `frames`: the wire format, and the messages (both sides);
- `worker` and `session`: the worker process's main (`python -m funchost.workers.worker`)
  and its serving loop, run in the app's interpreter: they import only the standard
  library, `azure.functions` and the parts of `funchost.core`, `funchost.config` and
  `funchost.errors` that need nothing else (the loader, the runner and the converters), so
  an app's venv needs only `azure-functions`;
- `process` and `pool`: the host's side, one worker process each and the pool that
  spreads invocations (least busy first), restarts a worker that died or ran past
  functionTimeout, and stops them with the host;
- `watch`: notices a change of the app's code, for `--reload`.

May import `funchost.core`, `funchost.config` and `funchost.errors`.
"""
