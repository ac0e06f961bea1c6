"""The handler both the funchost app and the bare Starlette baseline call."""


def hello_text(name: str | None) -> str:
    return f"hello {name or 'world'}"
