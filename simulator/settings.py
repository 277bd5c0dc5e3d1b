"""One settings model for the app, the CLI and the tests.

Values come, lowest priority first, from the defaults below, a `.env` file in
the working directory, environment variables prefixed `SIMULATOR_`, and CLI
flags (passed as keyword arguments).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "collector-simulator"


Backend = Literal["embedded", "openai", "scripted"]
Language = Literal["fr", "en"]


class Settings(BaseSettings):
    """Settings of the collector training simulator (env prefix `SIMULATOR_`)."""

    model_config = SettingsConfigDict(
        env_prefix="SIMULATOR_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    backend: Backend = Field(
        "embedded",
        description="Which model plays the debtor: `embedded` (local llama.cpp server started by the app), "
        "`openai` (any OpenAI-compatible endpoint) or `scripted` (canned replies, for tests and demos).",
    )
    base_url: str | None = Field(
        None,
        description="Base URL of the OpenAI-compatible endpoint (e.g. http://127.0.0.1:8000/v1). "
        "Empty means api.openai.com.",
    )
    model: str = Field(
        "gpt-4o-mini",
        description="Model name sent to the OpenAI-compatible endpoint (ignored by the embedded backend).",
    )
    api_key_env: str = Field(
        "OPENAI_API_KEY",
        description="Name of the environment variable holding the API key (the key itself is never stored in settings).",
    )
    request_timeout: float = Field(
        60.0, gt=0, description="Seconds to wait for an answer, or between two streamed chunks."
    )
    max_retries: int = Field(
        2, ge=0, le=10, description="Retries (with exponential backoff) on 429, 5xx and connection errors."
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where the database and the assembled embedded model are kept.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the store. Empty means the SQLite file `simulator.db` in the data directory.",
    )
    scenarios_dir: Path = Field(
        PROJECT_ROOT / "scenarios", description="Folder of scenario YAML files."
    )
    language: Language = Field("fr", description="Language of the user interface: `fr` or `en`.")
    model_path: Path | None = Field(
        None,
        description="Path of a GGUF file for the embedded backend instead of the shipped model.",
    )
    embedded_ctx: int = Field(4096, ge=512, description="Context window of the embedded model, in tokens.")
    context_tokens: int = Field(
        8192, ge=512,
        description="Context window of an OpenAI-compatible model, in tokens (the embedded model uses `embedded_ctx`).",
    )
    embedded_threads: int | None = Field(
        None, ge=1, description="CPU threads of the embedded model (empty: all cores)."
    )
    llama_repack: Literal["auto", "on", "off"] = Field(
        "auto",
        description="llama.cpp's repacked weight buffers (a faster layout built at load): `auto` leaves them out "
        "on CPUs with Intel AMX, where llama.cpp's AMX code crashes the process (llama.cpp issue 20824); `off` leaves "
        "them out everywhere, `on` keeps them everywhere (for a llama.cpp with the fix). The same model either way (its figures may differ in the "
        "last digits).",
    )
    embedded_start_timeout: float = Field(
        180.0, gt=0, description="Seconds to wait for the embedded llama.cpp server to become healthy."
    )
    scripted_replies: Path | None = Field(
        None,
        description="For the scripted backend: a text file with one debtor reply per line, played in turn.",
    )
    prompt_format: Literal["auto", "transcript", "chat"] = Field(
        "auto",
        description="How the debtor is prompted: `transcript` (a call transcript to continue, via /v1/completions), "
        "`chat` (chat messages) or `auto` (transcript for the embedded model, chat otherwise).",
    )
    rubric: str | None = Field(
        None,
        description="Rubric that scores trainee turns: an id from the rubrics folder (fr-default, en-us, en-uk) "
        "or a YAML file path. Empty: fr-default for French scenarios, en-us for English ones.",
    )
    rubrics_dir: Path = Field(PROJECT_ROOT / "rubrics", description="Folder of rubric YAML files.")
    scoring: Literal["lexical", "judge", "blend"] = Field(
        "lexical",
        description="How turns are scored: `lexical` (the rubric's deterministic indicators), `judge` (an LLM "
        "judge guided by the rubric; lexical caps and compliance rules still apply) or `blend` (the mean of both).",
    )
    semantic: Literal["auto", "on", "off"] = Field(
        "auto",
        description="The semantic violation detector (the embedded model reads what a turn means, about a second "
        "a turn): `auto` uses it when the embedded model is on this machine, `on` requires it, `off` leaves the "
        "phrase rules and the lexical detector alone.",
    )
    judge_base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint of the judge (empty: the same model as the debtor)."
    )
    judge_model: str | None = Field(None, description="Model name of the judge at `judge_base_url`.")
    host: str = Field("127.0.0.1", description="Address the web app listens on.")
    port: int = Field(7860, ge=0, le=65535, description="Port the web app listens on (0: any free port).")

    reviewer_scope: Literal["team", "all"] = Field(
        "team",
        description="Whose calls reviewers and trainers see: `team` (the trainees of their teams) or `all` (everyone's).",
    )
    allow_remote_single_user: bool = Field(
        False,
        description="Allow listening on an address other than 127.0.0.1 while no user account exists "
        "(anyone who reaches the port then sees every call). Add users instead when you can.",
    )
    heartbeat_seconds: float = Field(
        15.0, gt=0,
        description="Seconds between two records that a running app is alive; its open calls are shown as "
        "interrupted after 4 missed beats (at once when its process is gone from this machine).",
    )
    display_timezone: str = Field(
        "Europe/Paris", description="Time zone of the dates shown and of the date filters (review, progress, exports).",
    )

    @field_validator("base_url", "model_path", "scripted_replies", "database_url", "rubric", "judge_base_url",
                     "judge_model", mode="before")
    @classmethod
    def _empty_is_none(cls, value):
        return None if value == "" else value

    @property
    def database(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'simulator.db'}"

    @property
    def resolved_prompt_format(self) -> Literal["transcript", "chat"]:
        if self.prompt_format != "auto":
            return self.prompt_format
        return "transcript" if self.backend == "embedded" else "chat"

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env)
