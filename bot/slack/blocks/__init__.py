"""Block Kit payloads, as pure functions of plain data, one module per Slack surface: common
(escaping, fitting to Slack's limits, the pieces the surfaces share), announcement, search,
admin, forms and home; shapes types the payloads they make (messages, modals, the Home).
Nothing is imported here, so that posting an announcement loads only what an announcement
needs."""
