"""Searching the stored releases: the grammar members type, the engine that plans and ranks
a query over the store's index, the marking of matched words, and the service that runs
searches off the event loop."""
