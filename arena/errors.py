"""Errors that the CLI reports as one line and a non-zero exit, never a traceback."""


from pydantic import ValidationError


def first_problem(error: ValidationError, fallback_field: str = "") -> str:
    """`field.path: message` for the first problem pydantic found, as one line."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or fallback_field
    message = first["msg"].removeprefix("Value error, ")
    return f"{field}: {message}" if field else message


class ArenaError(Exception):
    """A user-facing error. Its message is printed as one line; `exit_code` is the process status."""

    exit_code = 1


class ConfigError(ArenaError):
    """The project file or a file it names is missing or invalid."""

    exit_code = 2


class DataError(ArenaError):
    """An input data file (questions, battles, rubric) is malformed."""

    exit_code = 2


class OutputError(ArenaError):
    """An output file asked for (`--out`) cannot be written there: checked before any work."""

    exit_code = 2


class StoreError(ArenaError):
    """The store cannot be opened or has an incompatible schema."""


class BackendError(ArenaError):
    """A model backend could not be reached or refused a request."""
