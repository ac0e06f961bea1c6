"""Configuration: host.json, local.settings.json, app settings, connection names, host id.

Everything is parsed once into frozen dataclasses with the real host's defaults and passed
in; nothing here reads process state on its own (callers hand in the environment). May
import only `funchost.errors`; every other room may import this one.
"""
