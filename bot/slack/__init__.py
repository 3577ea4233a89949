"""Everything that speaks Slack: the Bolt app, the Web API clients, Block Kit, the outbox and
the admin service; the domain below never imports from here."""
