"""The embedded LLM server process: llama-cpp-python's OpenAI-compatible app, with three changes.

    python -m rag.llm.app --model M.gguf --alias NAME --port P [--ctx N --threads T --cache-mb C --idle-s S]

1. A prompt-state cache whose size is what it holds. llama-cpp-python's LlamaRAMCache counts only
   llama.cpp's state bytes against its capacity, but each entry also keeps a copy of the model's
   score matrix (`Llama._scores`: up to n_batch x n_vocab float32, 243-311 MB for Qwen2.5's
   151,936-token vocabulary). Those scores are never read back when `logits_all` is off (sampling
   happens inside llama.cpp), so a 256 MB cache held ~25 entries and ~8 GB. `StateCache` stores
   one row of scores (what `load_state` broadcasts back) and counts every byte it keeps, and
   states are saved and restored without copying the matrix at all (`lean_state_io`).
2. POST /rag/judge: the model's probability that the answer to a yes/no prompt is "yes", read
   from the logits of the next token (not from generated text), with the prompt's prefix reused
   from the model's KV cache. The OpenAI API gives logprobs only with `logits_all`, which would
   allocate n_ctx x n_vocab floats (2.5 GB here).
3. GET /rag/status (memory, idle time, cache use) and a stop after `--idle-s` seconds without a
   request, so a server nobody uses gives its memory back; the next command starts a new one.

On CPUs with AMX (Intel Sapphire Rapids and later) the weights are not repacked into llama.cpp's
extra CPU buffer types: its AMX matrix multiply crashes the process on the first prompt with this
Q4_K_M model (SIGSEGV in ggml_backend_amx_mul_mat; ggml-org/llama.cpp#20824, no fix upstream).
Elsewhere repacking stays on, as llama.cpp's default.
"""


import argparse
import os
import signal
import threading
import time
from collections import OrderedDict
from typing import Sequence

import numpy as np


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a process, from /proc (0 where there is none)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags as Linux lists them (empty where there is no /proc/cpuinfo)."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[-1].split())
    except OSError:
        pass
    return set()


_AMX_FLAGS = {"amx_int8", "amx_tile"}


def cpu_has_amx(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU advertises AMX matrix instructions (Linux's `amx_int8` / `amx_tile` flags)."""
    return bool(_AMX_FLAGS & cpu_flags(cpuinfo))


def vector_family(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The widest vector instructions llama.cpp's kernels use on this CPU: "amx", "avx512", "avx2"
    or "other". It is built for the machine it is installed on, and its sums, hence the model's
    replies at temperature 0, differ between these families (not between runs on one of them)."""
    flags = cpu_flags(cpuinfo)
    if _AMX_FLAGS & flags:
        return "amx"
    return "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"


def without_extra_buffer_types() -> None:
    """Make every Llama this process loads skip llama.cpp's extra CPU buffer types (weight
    repacking, AMX included): llama-cpp-python exposes `use_extra_bufts` in the model parameters
    but not as a Llama() argument, so the defaults it starts from are changed instead."""
    import llama_cpp.llama as llama_module

    lib = llama_module.llama_cpp
    if getattr(lib.llama_model_default_params, "_rag_no_extra_bufts", False):
        return
    default = lib.llama_model_default_params

    def params():
        p = default()
        p.use_extra_bufts = False
        return p

    params._rag_no_extra_bufts = True
    lib.llama_model_default_params = params


def lean_state_io(llama) -> None:
    """Save and restore `llama`'s prompt states without its score matrix.

    llama-cpp-python's `save_state` copies `Llama.scores[:n_tokens]` (up to n_batch x n_vocab
    float32, 311 MB for Qwen2.5) on every completion the cache keeps, and `load_state` writes it
    back over the matrix and scans the rest of it: a few tenths of a second per answer. With
    `logits_all` off nothing reads those scores (sampling uses llama.cpp's own logits, and a
    restored state is decoded again before its first sample), so a state here is what llama.cpp
    needs (its KV cache), the tokens it holds and one row of zeros, the shape `StateCache` keeps.
    """
    import ctypes
    import types

    import llama_cpp
    from llama_cpp.llama import LlamaState

    def save_state(self):
        size = int(llama_cpp.llama_state_get_size(self._ctx.ctx))
        buf = (ctypes.c_uint8 * size)()
        n = int(llama_cpp.llama_state_get_data(self._ctx.ctx, buf, size))
        if n > size:
            raise RuntimeError("Failed to copy llama state data")
        return LlamaState(input_ids=self.input_ids.copy(), scores=np.zeros((1, self._n_vocab), dtype=np.single),
                          n_tokens=self.n_tokens, llama_state=ctypes.string_at(buf, n), llama_state_size=n,
                          seed=self._seed)

    def load_state(self, state) -> None:
        self.input_ids = state.input_ids.copy()
        self.n_tokens = state.n_tokens
        self._requires_eval = True
        self._seed = state.seed
        buf = (ctypes.c_uint8 * state.llama_state_size).from_buffer_copy(state.llama_state)
        if llama_cpp.llama_state_set_data(self._ctx.ctx, buf, state.llama_state_size) != state.llama_state_size:
            raise RuntimeError("Failed to set llama state data")

    llama.save_state = types.MethodType(save_state, llama)
    llama.load_state = types.MethodType(load_state, llama)


class StateCache:
    """LRU cache of evaluated prompt states, keyed by token prefix, bounded by the bytes it holds.

    Implements llama-cpp-python's BaseLlamaCache interface (`__getitem__` by longest prefix,
    `__contains__`, `__setitem__`, `cache_size`), so `Llama.set_cache` accepts it.
    """

    def __init__(self, capacity_bytes: int):
        self.capacity_bytes = capacity_bytes
        self.cache_state: OrderedDict[tuple[int, ...], object] = OrderedDict()
        self._sizes: dict[tuple[int, ...], int] = {}

    @staticmethod
    def entry_bytes(state) -> int:
        return int(state.llama_state_size) + int(state.scores.nbytes) + int(state.input_ids.nbytes)

    @property
    def cache_size(self) -> int:
        return sum(self._sizes.values())

    def _longest_prefix_key(self, key: tuple[int, ...]):
        best, best_len = None, 0
        for k in self.cache_state:
            n = 0
            for a, b in zip(k, key):
                if a != b:
                    break
                n += 1
            if n > best_len:
                best, best_len = k, n
        return best

    def __getitem__(self, key: Sequence[int]):
        found = self._longest_prefix_key(tuple(key))
        if found is None:
            raise KeyError("Key not found")
        self.cache_state.move_to_end(found)
        return self.cache_state[found]

    def __contains__(self, key: Sequence[int]) -> bool:
        return self._longest_prefix_key(tuple(key)) is not None

    def __setitem__(self, key: Sequence[int], state) -> None:
        key = tuple(key)
        # One row of scores: load_state broadcasts it over the restored tokens; with logits_all
        # off nothing reads those rows (sampling uses llama.cpp's own logits).
        if state.scores.ndim == 2 and state.scores.shape[0] > 1:
            state.scores = np.zeros((1, state.scores.shape[1]), dtype=state.scores.dtype)
        self.cache_state.pop(key, None)
        self.cache_state[key] = state
        self._sizes[key] = self.entry_bytes(state)
        while self.cache_size > self.capacity_bytes and self.cache_state:
            old, _ = self.cache_state.popitem(last=False)
            self._sizes.pop(old, None)


def yes_probability(llama, prompt: str, yes: Sequence[str] = ("yes", "Yes", " yes", " Yes"),
                    no: Sequence[str] = ("no", "No", " no", " No")) -> float:
    """P(yes) / (P(yes) + P(no)) for the token after `prompt`, reusing the evaluated prefix."""
    tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
    have = llama.input_ids[: llama.n_tokens].tolist()
    n = 0
    for a, b in zip(have, tokens):
        if a != b:
            break
        n += 1
    n = min(n, len(tokens) - 1)  # evaluate at least one token, so its logits are fresh
    llama.n_tokens = n
    llama.eval(tokens[n:])
    logits = np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(llama.n_vocab(),)).astype(np.float64)
    logits -= logits.max()
    p = np.exp(logits)

    def mass(words: Sequence[str]) -> float:
        ids = {llama.tokenize(w.encode(), add_bos=False, special=False)[0] for w in words}
        return float(sum(p[i] for i in ids))

    y, n_ = mass(yes), mass(no)
    return y / (y + n_) if y + n_ > 0 else 0.5


def _judge_request_model():
    from pydantic import BaseModel

    class JudgeRequest(BaseModel):
        """POST /rag/judge: chat messages whose reply should be yes or no."""

        messages: list[dict]

    return JudgeRequest


def build_app(args):
    from fastapi import Depends, FastAPI, Request
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    from llama_cpp.server.app import create_app, get_llama_proxy
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    if cpu_has_amx():
        without_extra_buffer_types()
    server = ServerSettings(host=args.host, port=args.port, interrupt_requests=False)
    model = ModelSettings(
        model=args.model, model_alias=args.alias, n_ctx=args.ctx, n_threads=args.threads,
        n_threads_batch=args.threads, logits_all=False, use_mlock=False, cache=False, verbose=True,
    )
    app: FastAPI = create_app(server_settings=server, model_settings=[model])
    import llama_cpp.server.app as llama_app

    llama = llama_app._llama_proxy(args.alias)
    cache = StateCache(args.cache_mb * 1024 * 1024) if args.cache_mb > 0 else None
    if cache is not None:
        lean_state_io(llama)
        llama.set_cache(cache)
    meta = llama.metadata
    eos, bos = llama.token_eos(), llama.token_bos()
    formatter = Jinja2ChatFormatter(
        template=meta["tokenizer.chat_template"],
        eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
        bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
    )
    clock = {"started": time.time(), "last": time.time(), "active": 0, "requests": 0}
    lock = threading.Lock()

    def done() -> None:
        with lock:
            clock["active"] -= 1
            clock["last"] = time.time()

    @app.middleware("http")
    async def track_activity(request: Request, call_next):
        """A request is active until its body has been sent: a streamed answer can outlast the
        idle time, and stopping the server under it would cut the answer off."""
        if request.url.path == "/rag/status":  # looking at the server is not using it
            return await call_next(request)
        with lock:
            clock["active"] += 1
            clock["requests"] += 1
        try:
            response = await call_next(request)
        except BaseException:
            done()
            raise
        inner = response.body_iterator

        async def body():
            try:
                async for chunk in inner:
                    yield chunk
            finally:
                done()

        response.body_iterator = body()
        return response

    JudgeRequest = _judge_request_model()

    @app.post("/rag/judge")
    def judge(body: JudgeRequest, proxy=Depends(get_llama_proxy)):
        prompt = formatter(messages=body.messages).prompt
        return {"p_yes": yes_probability(proxy(args.alias), prompt)}

    @app.get("/rag/status")
    def status():
        now = time.time()
        return {
            "pid": os.getpid(),
            "rss_bytes": rss_bytes(),
            "idle_s": 0.0 if clock["active"] else round(now - clock["last"], 1),
            "idle_stop_s": args.idle_s,
            "uptime_s": round(now - clock["started"], 1),
            "requests": clock["requests"],
            "cache_entries": len(cache.cache_state) if cache else 0,
            "cache_bytes": cache.cache_size if cache else 0,
            "cache_capacity_bytes": cache.capacity_bytes if cache else 0,
        }

    if args.idle_s > 0:
        def watch():
            while True:
                time.sleep(min(5.0, args.idle_s / 4))
                with lock:
                    idle = clock["active"] == 0 and time.time() - clock["last"] > args.idle_s
                if idle:
                    print(f"rag.llm.app: idle for {args.idle_s:g} s, stopping", flush=True)
                    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn shuts down cleanly
                    return

        threading.Thread(target=watch, name="idle-stop", daemon=True).start()
    return app


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m rag.llm.app", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="Path of the GGUF model.")
    p.add_argument("--alias", required=True, help="Model name the API lists and accepts.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ctx", type=int, default=4096, help="Context window, in tokens.")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache-mb", type=int, default=256, help="Prompt-state cache, MiB (0: none).")
    p.add_argument("--idle-s", type=float, default=900.0, help="Stop after this long without a request (0: never).")
    args = p.parse_args(argv)
    import uvicorn

    uvicorn.run(build_app(args), host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
