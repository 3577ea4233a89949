"""Publishing the App Home: the settings for admins; for everyone, their own alerts and the
latest releases."""

from __future__ import annotations

import logging

from bot.database import DatabaseBusy
from bot.slack.admin import READ_WITHIN, Admin, unrouted_in
from bot.slack.blocks.home import admin_home_view, home_view, route_pages
from bot.slack.blocks.shapes import json_object
from bot.slack.markup import COMMAND

log = logging.getLogger(__name__)

HOME_RELEASES = 10
RECENT_CHANGES = 10


class Home:
    """The App Home of one workspace (that of `admin`)."""

    def __init__(self, admin: Admin) -> None:
        self.admin = admin
        self.client = admin.client
        # Who was last shown the admins' Home: refreshed after any admin's change.
        self._admins: set[str] = set()
        # The page of routes each admin last turned to: a refresh keeps them there.
        self._route_pages: dict[str, int] = {}

    async def publish(
        self,
        user_id: str,
        *,
        is_admin: bool | None = None,
        notice: str | None = None,
        route_page: int | None = None,
    ) -> None:
        """Show `user_id` their Home: asks Slack whether they are an admin unless told. An
        admin's `notice` (escaped mrkdwn) says what became of the form they just sent; it
        stays until their Home is published again. `route_page` turns their list of routes
        to that page (else the page they last saw, past the last one: the last one)."""
        if is_admin is None:
            is_admin = await self.admin.check.refusal(user_id) is None
        (self._admins.add if is_admin else self._admins.discard)(user_id)
        if route_page is not None and is_admin:
            self._route_pages[user_id] = route_page
        elif not is_admin:
            self._route_pages.pop(user_id, None)
        try:
            if is_admin:
                team = self.admin.team
                health = await self.admin.report()
                routes, missing, per_channel, changes, releases, alerts = await self.admin.db.read(
                    lambda store: (
                        store.routes(team=team),
                        unrouted_in(store, team),
                        store.delivery_counts_by_channel(team=team),
                        store.recent_changes(RECENT_CHANGES, team=team),
                        store.latest_releases(HOME_RELEASES),
                        store.alerts_of(team=team, user=user_id),
                    ),
                    within=READ_WITHIN,
                )
                page = min(self._route_pages.get(user_id, 1), route_pages(len(routes)))
                view = admin_home_view(
                    routes=routes,
                    unrouted=missing,
                    report=health,
                    per_channel=per_channel,
                    changes=changes,
                    releases=releases,
                    command=COMMAND,
                    notice=notice,
                    route_page=page,
                    alerts=alerts,
                )
            else:
                team = self.admin.team
                releases, alerts = await self.admin.db.read(
                    lambda store: (
                        store.latest_releases(HOME_RELEASES),
                        store.alerts_of(team=team, user=user_id),
                    ),
                    within=READ_WITHIN,
                )
                view = home_view(releases, COMMAND, alerts)
        except DatabaseBusy:  # the Home is published again at the next open
            log.warning("the Home of %s was not published: the database was busy", user_id)
            return
        try:
            await self.client.views_publish(user_id=user_id, view=json_object(view))
        except Exception as error:  # the Home is refreshed again at the next open
            log.warning("views.publish for %s failed: %s", user_id, error.__class__.__name__)

    async def after_change(self, user_id: str, notice: str | None = None) -> None:
        """Refresh the Home of the admin who changed something (with `notice`), and of the
        other admins shown it before (asking Slack again whether they still are admins)."""
        await self.publish(user_id, is_admin=True, notice=notice)
        for other in sorted(self._admins - {user_id}):
            await self.publish(other)
