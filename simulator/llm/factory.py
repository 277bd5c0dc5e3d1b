"""Build the ChatModel the settings ask for."""

from __future__ import annotations

from ..errors import ConfigError
from ..settings import Settings
from .base import ChatModel
from .embedded import Progress, _stderr_progress
from .openai_compat import OpenAICompatModel
from .scripted import ScriptedModel
from .tokens import CharEstimate, LlamaVocabCounter, TokenBudget, tiktoken_or_estimate


def build_model(settings: Settings, progress: Progress | None = _stderr_progress) -> ChatModel:
    """The model for `settings.backend`. The embedded server starts on first use
    (call `await model.start()` to start it now)."""
    if settings.backend == "scripted":
        if settings.scripted_replies:
            return ScriptedModel.from_file(settings.scripted_replies)
        return ScriptedModel()
    if settings.backend == "openai":
        key = settings.api_key()
        if not key and not settings.base_url:
            raise ConfigError(
                f"the openai backend needs an API key in ${settings.api_key_env} "
                "(or SIMULATOR_BASE_URL pointing at a local server that needs none)"
            )
        return OpenAICompatModel(
            base_url=settings.base_url, model=settings.model, api_key=key,
            timeout=settings.request_timeout, max_retries=settings.max_retries,
        )
    if settings.backend == "embedded":
        from .embedded import EmbeddedModel, LlamaServer, assemble_model

        if settings.model_path:
            path = settings.model_path.expanduser()
            if not path.is_file():
                raise ConfigError(f"SIMULATOR_MODEL_PATH={path}: no such file; give the path of a GGUF model")
        else:
            path = assemble_model(settings.data_dir / "models", progress=progress)
        server = LlamaServer(
            path, n_ctx=settings.embedded_ctx, n_threads=settings.embedded_threads,
            start_timeout=settings.embedded_start_timeout,
            log_path=settings.data_dir / "logs" / "llama-server.log",
        )
        return EmbeddedModel(server, timeout=settings.request_timeout, max_retries=1)
    raise ConfigError(f"unknown backend {settings.backend!r}: use embedded, openai or scripted")


def token_budget(settings: Settings, model: ChatModel) -> TokenBudget:
    """The context window of `model` and the most exact token counter available for it."""
    from .embedded import EmbeddedModel

    if isinstance(model, EmbeddedModel):
        return TokenBudget(settings.embedded_ctx, LlamaVocabCounter(model.server.model_path))
    if isinstance(model, OpenAICompatModel):
        return TokenBudget(settings.context_tokens, tiktoken_or_estimate(settings.model))
    return TokenBudget(settings.context_tokens, CharEstimate())


def build_judge_model(settings: Settings) -> ChatModel | None:
    """A separate judge model when `judge_base_url` or `judge_model` is set; None means: use the debtor's."""
    if not (settings.judge_base_url or settings.judge_model):
        return None
    key = settings.api_key()
    base_url = settings.judge_base_url or settings.base_url
    if not key and not base_url:
        raise ConfigError(
            f"the judge needs an API key in ${settings.api_key_env} "
            "(or SIMULATOR_JUDGE_BASE_URL pointing at a local server that needs none)"
        )
    return OpenAICompatModel(
        base_url=base_url, model=settings.judge_model or settings.model, api_key=key,
        timeout=settings.request_timeout, max_retries=settings.max_retries,
    )
