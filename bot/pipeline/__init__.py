"""The way a message travels: dispatcher, middlewares, reply guard, claim loop, worker, sender,
leases and the order things start and stop in."""
