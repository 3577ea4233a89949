"""Bringing releases in: the RSS feed polled by the watcher, the JSON archive walked once.

Fetch (`feed`), parse (`rss`, `archive`, sharing `fields`, `html_text` and `dates`), recognise
renamed releases (`identity`), then store: the watcher and the backfill only combine the steps.
"""
