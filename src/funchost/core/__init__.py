"""The core: what a function is and how one invocation runs.

Function specs and the loader (indexing a Python v2 app), invocations and outcomes, the
runner (converters in, user code, converters out), the `Invoke -> Invoke` wrappers
(timeout, logging, retries, in-flight tracking), the per-host services plug-ins get, SDK
clients and logging. May import `funchost.config` and `funchost.errors`; never a plug-in
room (`triggers`, `bindings`) nor `http`, `storage`, `timer`.
"""
