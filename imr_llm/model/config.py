"""Model configuration and the provider-profile table: a new kind of endpoint is one row in
PROFILES (its instructor mode and how to ask that server for schema-constrained JSON)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError


@dataclass(frozen=True)
class Profile:
    mode: str  # an instructor.Mode name
    default_base_url: str
    needs_key: bool
    structured: Callable[[dict], dict[str, Any]]  # JSON schema → extra_body for the request


PROFILES: dict[str, Profile] = {
    "openai": Profile("TOOLS", "https://api.openai.com/v1", True, lambda schema: {}),
    "vllm": Profile("JSON_SCHEMA", "http://127.0.0.1:8000/v1", False, lambda schema: {}),
    "ollama": Profile("JSON", "http://127.0.0.1:11434/v1", False, lambda schema: {"format": schema}),
    # llama.cpp's server refuses response_format json_schema (HTTP 500) but constrains json_object
    # output with a grammar built from "schema"
    "llamacpp": Profile("JSON", "http://127.0.0.1:8080/v1", False,
                        lambda schema: {"response_format": {"type": "json_object", "schema": schema}}),
}


class ModelConfig(BaseModel):
    """Which model to call and how. Built from arguments, then IMR_LLM_* environment variables."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="model name as the endpoint knows it")
    endpoint_kind: str = Field("openai", description=f"one of {sorted(PROFILES)}")
    base_url: str | None = Field(None, description="OpenAI-compatible base URL; the profile's default if unset")
    api_key_env: str = Field("IMR_LLM_API_KEY", description="environment variable that holds the key")
    temperature: float = 0.0
    max_tokens: int = 400  # an answer of 4 reasons with quotes is ~250 tokens; a runaway one stops here
    timeout_s: float = 300.0
    max_validation_retries: int = Field(1, ge=0,
                                        description="re-asks when the output fails validation (each costs a full prompt)")
    max_transport_retries: int = Field(4, ge=0, description="retries on 429/5xx/timeouts/connection errors")
    retry_wait_min_s: float = Field(1.0, ge=0, description="first transport-retry wait; doubles each retry")
    retry_wait_max_s: float = Field(30.0, ge=0, description="longest backoff wait between transport retries")
    max_retry_after_s: float = Field(60.0, ge=0, description="cap on a 429/503 Retry-After wait")
    max_in_flight: int = Field(8, ge=1, description="HTTP requests in flight at once to this endpoint")
    requests_per_minute: float | None = Field(None, gt=0, description="rate limit on requests (None: none)")
    tokens_per_minute: float | None = Field(None, gt=0, description="rate limit on prompt + completion tokens")

    @property
    def profile(self) -> Profile:
        try:
            return PROFILES[self.endpoint_kind]
        except KeyError:
            raise ConfigError(f"unknown endpoint kind '{self.endpoint_kind}'; use one of {sorted(PROFILES)}") from None

    resolved_base_url = property(lambda self: self.base_url or self.profile.default_base_url)

    @property
    def endpoint_host(self) -> str:
        """Host and port only: what reports may show about the endpoint (never a key, a user or
        a password from the URL)."""
        return urlparse(url := without_credentials(self.resolved_base_url)).netloc or url

    def __repr_args__(self):
        for name, value in super().__repr_args__():
            yield name, without_credentials(value) if name == "base_url" and value else value

    def api_key(self) -> str:
        """The key for this endpoint. IMR_LLM_API_KEY (or `api_key_env`) is the key the user set for
        the configured endpoint; OPENAI_API_KEY is OpenAI's and is sent to api.openai.com only, never
        to a vLLM, Ollama or llama.cpp host."""
        key = os.environ.get(self.api_key_env)
        if not key and self.endpoint_kind == "openai" and self.endpoint_host == "api.openai.com":
            key = os.environ.get("OPENAI_API_KEY")
        if key:
            return key
        if self.profile.needs_key:
            raise ConfigError(f"the '{self.endpoint_kind}' endpoint needs an API key: set {self.api_key_env} "
                              "(or OPENAI_API_KEY)")
        return "not-needed"  # local servers ignore the key, but the client requires one

    @classmethod
    def from_env(cls, **overrides: Any) -> "ModelConfig":
        """Arguments first, then IMR_LLM_MODEL, _ENDPOINT_KIND, _BASE_URL and IMR_LLM_<NAME> for each ENV_SETTINGS name."""
        names = ("model", "endpoint_kind", "base_url", *ENV_SETTINGS)
        values = {name: os.environ.get(f"IMR_LLM_{name.upper()}") for name in names}
        values.update({k: v for k, v in overrides.items() if v is not None})
        values = {k: v for k, v in values.items() if v is not None}
        if not values.get("model"):
            raise ConfigError("no model configured: pass --model or set IMR_LLM_MODEL")
        try:
            config = cls(**values)
        except ValidationError as exc:
            bad = sorted({str(e["loc"][0]) for e in exc.errors() if e.get("loc")})
            names = ", ".join(f"IMR_LLM_{name.upper()}" if name in ENV_SETTINGS else name for name in bad)
            raise ConfigError(f"invalid model setting: {names or 'see the model options'}") from None
        config.profile  # validate the kind early
        return config


# the user-information part of a URL: "scheme://user:password@" or a bare "user:password@"
_USERINFO = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.-]*:)?//)?[^/?#]*@")


def without_credentials(url: str) -> str:
    """`url` without any user and password in it: the only form of a URL that is stored or printed
    (an endpoint given as http://user:KEY@host keeps its credentials for the connection only)."""
    return _USERINFO.sub(r"\1", url, count=1)


# numeric settings that IMR_LLM_<NAME> environment variables can set (timeouts and retries)
ENV_SETTINGS = ("timeout_s", "max_transport_retries", "max_validation_retries", "retry_wait_min_s",
                "retry_wait_max_s", "max_retry_after_s", "max_in_flight", "requests_per_minute", "tokens_per_minute")
