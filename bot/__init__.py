"""isscr-news-bot: ISSCR news releases in Slack."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("isscr-news-bot")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

HOMEPAGE = "https://github.com/isscr-news-bot/isscr-news-bot"
USER_AGENT = f"isscr-news-bot/{__version__} (+{HOMEPAGE})"
