"""The language model: the embedded llama.cpp server and its model, the OpenAI-compatible client,
and the prompt.

    model.py     the GGUF file assembled from its PyPI part packages, checked by sha256
    app.py       the embedded server process (llama-cpp-python's OpenAI app, bounded cache, /rag/judge)
    server.py    supervises that process: start on first use, reuse, stop when idle
    generate.py  the Generator role: chat messages in, text out, for any OpenAI-compatible endpoint
    prompt.py    instructions, worked examples, numbered sources, the question
"""
