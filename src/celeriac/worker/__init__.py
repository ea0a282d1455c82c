"""The worker: consume task messages, run them in a pool, acknowledge them."""
