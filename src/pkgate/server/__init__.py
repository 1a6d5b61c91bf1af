"""The `pkgate serve` / `pkgate collect` process, apart from the workers it supervises:
`supervisor` (serve, collect), `consume` (the spool's consumer and loader thread, drain) and
`reload` (config checks, SIGHUP reload)."""
