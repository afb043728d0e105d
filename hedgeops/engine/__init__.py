"""Pure domain logic. No I/O, no clock reads, no kopf/ccxt/redis: `now` and data come in as arguments,
frozen decisions and plans go out. The same code runs in the operator, local mode, backtests and tests."""
