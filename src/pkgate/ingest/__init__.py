"""Access-log ingest: nginx, Apache, CloudFront, Cloudflare and JSON logs -> the gateway's events.

Data flow: reader (bytes, chunks) -> a format's parser (`Record`, still holding the address) ->
classify (kind, ecosystem, project, version) -> enrich (source ids and facts; the address is
dropped) -> `Event` -> the loader's insert path. See docs/ingest.md.
"""
