"""`hedgeops local`: the operator's reconcilers without a cluster, on a simulated clock over real data."""
