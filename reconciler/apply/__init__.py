"""Apply: runs a plan's actions in dependency order, in parallel across servers within each
server's `concurrency`, step by step, with the journal recording every start and end."""
