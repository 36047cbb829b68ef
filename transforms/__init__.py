"""Pure polars stages: normalise, block, compare, score, cluster, reconcile."""
