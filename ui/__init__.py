"""The Streamlit web UI: chat with checkable citations, the corpus page and briefing export.

Started by `rag ui` (see `ui.launch`); `ui/app.py` is the Streamlit entry point.
"""
