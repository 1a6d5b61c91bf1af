"""The HTTP front: PEP 503/691 index pages, signed file redirects, and recording of every request.

Imports `events` and `enrich`, never `store`. `app` assembles a worker for granian (RSGI) or any ASGI
server; `gateway` holds the request handling independent of the server interface.
"""
