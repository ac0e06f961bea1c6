"""Local stand-ins for Azure services, started for `funchost dev` and for tests.

Azurite (Azure Storage, from npm) and the project's Service Bus emulator each run as a
child process on free loopback ports and hand back the connection string to use. May
import `funchost.config` and `funchost.core` (to read which entities an app's bindings name).
"""
