"""kopf wiring only: handlers and timers, status patching, events, settings, probes."""
