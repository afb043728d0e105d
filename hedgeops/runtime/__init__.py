"""The reconcile cycle of each kind (observe → decide → gate → act → report), shared by the operator,
the local runner and backtests; and the services it needs: clock, locks, journal, metrics."""
