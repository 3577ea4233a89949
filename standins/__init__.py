"""Loopback stand-ins for the edges the bot does not own: the society's website (feed_server),
Slack's Web API (slack_api, judging payloads with block_kit, pacing posts with slack_pacing,
with as many workspaces as a test or benchmark needs; slack_process runs it in a process of its
own), the signed requests Slack sends to the bot (slack_requests) and a person's browser in the
OAuth install flow (oauth_browser). The tests, the benchmarks and CI's smoke test share them;
the bot never imports them, and the Docker image does not hold them."""
