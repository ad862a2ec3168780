"""The Generator role: chat messages in, answer text out (streamed or whole).

Every LLM is reached through the OpenAI chat API, so the embedded llama.cpp server, Ollama,
vLLM and OpenAI itself are the same code path. Failures of the endpoint (nothing listening,
timeouts, HTTP 5xx/429, garbage on the wire, a server killed mid-answer) all surface as
`LLMUnavailable` with a one-line reason and the next step, never as a hang or a traceback.

`ScriptedGenerator` is a deterministic fake for unit tests of the logic around generation
(prompting, citation checking); the real generator is tested against a real server.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from rag.errors import LLMUnavailable
from rag.settings import Settings


@runtime_checkable
class Generator(Protocol):
    """Produces the assistant's reply to a list of chat messages ({"role", "content"})."""

    model: str
    endpoint: str

    def stream(
        self,
        messages: list[dict],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Yield the reply as text deltas, as soon as the model produces them."""
        ...

    def complete(
        self,
        messages: list[dict],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
    ) -> str:
        """Return the whole reply."""
        ...


class OpenAIGenerator:
    """A Generator speaking the OpenAI chat-completions API through the `openai` client.

    `base_url` overrides settings.llm_base_url (the embedded server passes its own URL);
    `model` overrides settings.llm_model; with neither, the endpoint's first listed model is
    used. `hint` is the next step appended to connection errors. Construction is cheap: the
    client is created on the first request. A request is abandoned when the endpoint sends
    nothing for settings.llm_timeout seconds.
    """

    def __init__(
        self,
        settings: Settings,
        base_url: str | None = None,
        *,
        model: str | None = None,
        hint: str | None = None,
    ):
        endpoint = base_url or settings.llm_base_url
        if not endpoint:
            raise ValueError("OpenAIGenerator needs base_url or settings.llm_base_url")
        self.endpoint = endpoint.rstrip("/")
        self._model = model or settings.llm_model
        self._settings = settings
        self._hint = hint or "Check that the server at RAG_LLM_BASE_URL is running, or unset it to use the embedded model."
        self._client = None

    @property
    def model(self) -> str:
        """The model name sent with each request (asks the endpoint once if not configured)."""
        if self._model is None:
            self._model = self._discover_model()
        return self._model

    def stream(
        self,
        messages: list[dict],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        s = self._settings
        params = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens if max_tokens is not None else s.llm_max_tokens,
            "temperature": temperature if temperature is not None else s.llm_temperature,
            "stream": True,
        }
        if stop:
            params["stop"] = stop
        return self._iter_deltas(params)

    def complete(
        self,
        messages: list[dict],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
    ) -> str:
        # Streaming underneath: the timeout then bounds silence, not the answer's length.
        return "".join(self.stream(messages, max_tokens=max_tokens, temperature=temperature, stop=stop))

    def _iter_deltas(self, params: dict) -> Iterator[str]:
        client = self._get_client()
        try:
            response = client.chat.completions.create(**params)
        except Exception as err:
            raise self._unavailable(err) from err
        finished = False
        try:
            for chunk in response:
                choices = getattr(chunk, "choices", None)
                if choices is None:
                    raise LLMUnavailable(f"The LLM at {self.endpoint} sent a malformed stream chunk. {self._hint}")
                for choice in choices:  # empty on usage-only chunks
                    text = getattr(choice.delta, "content", None)
                    if text:
                        yield text
                    if choice.finish_reason is not None:
                        finished = True
        except LLMUnavailable:
            raise
        except Exception as err:
            raise self._unavailable(err) from err
        finally:
            response.close()
        if not finished:
            raise LLMUnavailable(
                f"The LLM at {self.endpoint} ended its answer without finishing it. {self._hint}"
            )

    def _get_client(self):
        if self._client is None:
            import openai

            t = self._settings.llm_timeout
            timeout = openai.Timeout(t, connect=min(5.0, t))
            host = urlsplit(self.endpoint).hostname or ""
            # A loopback server must never be reached through an HTTP(S)_PROXY from the environment.
            loopback = host in ("localhost", "::1") or host.startswith("127.")
            self._client = openai.OpenAI(
                base_url=self.endpoint,
                api_key=self._settings.llm_api_key or "not-needed",
                timeout=timeout,
                max_retries=1,
                http_client=openai.DefaultHttpxClient(trust_env=False, timeout=timeout) if loopback else None,
            )
        return self._client

    def _discover_model(self) -> str:
        try:
            models = list(self._get_client().models.list())
        except Exception as err:
            raise self._unavailable(err) from err
        if not models:
            raise LLMUnavailable(f"The LLM at {self.endpoint} lists no models. Set RAG_LLM_MODEL.")
        return models[0].id

    def _unavailable(self, err: Exception) -> LLMUnavailable:
        """Turn any client-side failure into one actionable line."""
        import openai

        where = f"The LLM at {self.endpoint}"
        if isinstance(err, openai.APITimeoutError):
            return LLMUnavailable(
                f"{where} sent nothing for {self._settings.llm_timeout:g} s. "
                f"Raise RAG_LLM_TIMEOUT or check the server. {self._hint}"
            )
        if isinstance(err, openai.APIConnectionError):
            cause = err.__cause__ or err
            return LLMUnavailable(f"{where} cannot be reached ({_one_line(cause)}). {self._hint}")
        if isinstance(err, openai.APIStatusError):
            status = err.status_code
            detail = _one_line(getattr(err, "message", err))
            if status == 429:
                step = "It is rate limiting or overloaded: wait and retry."
            elif status in (401, 403):
                step = "Check RAG_LLM_API_KEY."
            elif status == 404:
                step = "Check RAG_LLM_MODEL and RAG_LLM_BASE_URL (it usually ends in /v1)."
            elif status >= 500:
                step = f"The server failed; retry, and check its log. {self._hint}"
            else:
                step = "The request was refused; the prompt may exceed the model's context (RAG_LLM_CTX)."
            return LLMUnavailable(f"{where} answered HTTP {status}: {detail}. {step}")
        return LLMUnavailable(f"{where} sent a malformed response ({_one_line(err)}). {self._hint}")


def make_generator(settings: Settings) -> Generator:
    """The configured Generator: the external endpoint if RAG_LLM_BASE_URL is set, else the
    embedded model, whose server is started (or reused) here."""
    if settings.llm_base_url:
        return OpenAIGenerator(settings)
    from rag.llm.model import MODEL_NAME
    from rag.llm.server import EmbeddedServer

    server = EmbeddedServer(settings)
    base_url = server.ensure_running()
    hint = (
        f"The embedded LLM server stopped or is stuck; run the command again to restart it "
        f"(log: {server.log_path})."
    )
    return OpenAIGenerator(settings, base_url=base_url, model=MODEL_NAME, hint=hint)


Reply = str | Exception


class ScriptedGenerator:
    """A deterministic Generator for unit tests: returns scripted replies in order.

    `replies` is a sequence (one per call; an Exception instance is raised instead of
    answering) or a function of the messages. `stream()` yields the reply word by word
    (whitespace kept, so the deltas join back to the reply); `stop` truncates at the first
    stop string and `max_tokens` keeps that many words, as a real server would. Every call
    is recorded in `calls` so tests can check the prompt that was sent.
    """

    model = "scripted"
    endpoint = "scripted://"

    def __init__(self, replies: Sequence[Reply] | Callable[[list[dict]], Reply]):
        if isinstance(replies, str):
            replies = [replies]
        self._replies = replies if callable(replies) else list(replies)
        self._next = 0
        self.calls: list[dict] = []

    def stream(
        self,
        messages: list[dict],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        reply = self._take(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)
        for stop_string in stop or []:
            if stop_string and stop_string in reply:
                reply = reply[: reply.index(stop_string)]
        words = re.findall(r"\s*\S+|\s+", reply)
        if max_tokens is not None:
            words = words[:max_tokens]
        return iter(words)

    def complete(
        self,
        messages: list[dict],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
    ) -> str:
        return "".join(self.stream(messages, max_tokens=max_tokens, temperature=temperature, stop=stop))

    def _take(self, messages: list[dict], **params) -> str:
        self.calls.append({"messages": messages, **params})
        if callable(self._replies):
            reply = self._replies(messages)
        else:
            if self._next >= len(self._replies):
                raise AssertionError(f"ScriptedGenerator has only {len(self._replies)} scripted replies")
            reply = self._replies[self._next]
            self._next += 1
        if isinstance(reply, Exception):
            raise reply
        return reply


def _one_line(value: object, limit: int = 200) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
