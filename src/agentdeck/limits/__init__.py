"""Rate limits and budgets on `kv`: exact across replicas, one atomic script per decision."""
