"""The few error types of the simulator.

`SimulatorError` is a user-facing problem (bad file, bad setting, backend not
reachable): its message says what is wrong and how to fix it. The CLI prints
it, the Gradio UI shows it with `gr.Error`. Anything else is a bug.
"""

from __future__ import annotations


class SimulatorError(Exception):
    """A problem the user can fix; the message names the file/field and the fix."""


class ConfigError(SimulatorError):
    """A setting is missing or wrong."""


class ScenarioError(SimulatorError):
    """One or more scenario files are invalid.

    `problems` holds one line per problem, formatted `file:line: field: message`.
    """

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class LLMError(SimulatorError):
    """The language model backend failed. Subclasses say how."""


class LLMConnectionError(LLMError):
    """The backend could not be reached (refused, reset, DNS...)."""


class LLMTimeoutError(LLMError):
    """The backend did not answer (or stopped streaming) within the request timeout."""


class LLMStatusError(LLMError):
    """The backend answered with an HTTP error status; `status` and `body` are kept."""

    def __init__(self, message: str, status: int, body: str | None = None):
        self.status = status
        self.body = body
        super().__init__(message)


class LLMStreamInterrupted(LLMError):
    """A streamed reply was cut before its end; `partial` holds what arrived."""

    def __init__(self, message: str, partial: str):
        self.partial = partial
        super().__init__(message)


class ModelAssemblyError(SimulatorError):
    """The embedded model file could not be assembled or verified."""


class RubricError(SimulatorError):
    """One or more rubric or compliance-pack files are invalid; `problems` as `file:line: field: message (fix)`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class TranscriptError(SimulatorError):
    """A transcript file cannot be read; `problems` as `file:line: problem (fix)`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))
