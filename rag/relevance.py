"""Moved to rag/answer/relevance.py (the answer stage's package); this name stays importable for code
written against it. The module object is the same, so patches and private names work as before."""

import sys

from rag.answer import relevance as _module

sys.modules[__name__] = _module
