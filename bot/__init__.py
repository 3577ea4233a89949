"""isscr-news-bot: ISSCR news releases in Slack."""

# The one place the version is written (pyproject.toml reads it from here): looking it up in
# the installed package's metadata would cost a tenth of a start-up.
__version__ = "0.1.0"

HOMEPAGE = "https://github.com/isscr-news-bot/isscr-news-bot"
USER_AGENT = f"isscr-news-bot/{__version__} (+{HOMEPAGE})"
