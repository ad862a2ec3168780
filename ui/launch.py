"""Start the web UI: `streamlit run ui/app.py` on loopback, with nothing phoning home.

Flags: headless (no browser is opened unless asked), bound to 127.0.0.1, usage statistics
off, no file watcher (nothing is re-run when files change, and no inotify watches are spent
on the data directory), and tracebacks kept out of the page (they go to the terminal).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().with_name("app.py")


def command(port: int = 8501, headless: bool = True) -> list[str]:
    """The streamlit command line `launch` runs (public so tests and benchmarks use the same flags)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--server.headless", "true" if headless else "false",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--browser.gatherUsageStats", "false",
        "--browser.serverAddress", "127.0.0.1",
        "--browser.serverPort", str(port),
        "--client.toolbarMode", "minimal",
        "--client.showErrorDetails", "none",  # an unexpected error never shows a traceback
        "--global.developmentMode", "false",
        "--theme.base", "light",
    ]  # fmt: skip


def launch(port: int = 8501, headless: bool = True) -> int:
    """Run the UI in the foreground until Ctrl-C; returns the exit status for `rag ui`."""
    print(f"Starting the assistant at http://127.0.0.1:{port} (Ctrl-C to stop)", file=sys.stderr)
    proc = subprocess.Popen(command(port, headless))
    # `kill` of this process must stop the server too (Ctrl-C already reaches both)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: proc.send_signal(signum))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        # the terminal sent SIGINT to streamlit as well; give it time to shut down cleanly
        try:
            return proc.wait(timeout=10) or 0
        except subprocess.TimeoutExpired:
            proc.terminate()
            return proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
