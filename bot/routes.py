"""Which channels a new release is announced in."""

from __future__ import annotations

from bot.models import Release
from bot.settings import Settings


class Router:
    """Every release goes to ANNOUNCE_CHANNEL; per-category routes build on this."""

    def __init__(self, settings: Settings) -> None:
        self.announce_channel = settings.announce_channel

    def channels_for(self, release: Release) -> list[str]:
        return [self.announce_channel] if self.announce_channel else []
