"""Access to collections: principals with hashed tokens, read/write grants, and the audit log.

    principals.py  the AccessStore: HOME/access.json or PostgreSQL tables; tokens and their hashes
    policy.py      who may read or write which collection (HTTP API and web UI)
    audit.py       the append-only log of every answer the HTTP API gave

Managed with `rag access grant|revoke|list|token|log`; collections themselves with `rag collections`.
"""
