"""Loopback stand-ins for the edges the bot does not own: the society's website (feed_server),
Slack's Web API (slack_api, judging payloads with block_kit) and the signed requests Slack sends
to the bot (slack_requests). The tests, the benchmarks and CI's smoke test share them; the bot
never imports them, and the Docker image does not hold them."""
