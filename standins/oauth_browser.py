"""A person's browser adding the app to a workspace through Bolt's OAuth flow, against the
bot's HTTP server and the Slack stand-in.

What the browser does (slack_bolt/oauth/async_oauth_flow.py, slack_sdk/oauth/state_utils and
authorize_url_generator):
1. GET {bot}/slack/install. Bolt answers its "Add to Slack" page (200, a link to
   https://slack.com/oauth/v2/authorize?state=…&client_id=…&scope=…&user_scope=…[&redirect_uri=…])
   or, with install_page_rendering_enabled=False, a 302 to that URL; either way with a
   `Set-Cookie: slack-app-oauth-state=<state>; Secure; HttpOnly; …` when it validates state.
2. slack.com asks the person and, on approval, sends the browser to the redirect URL with a
   one-time code and the same state. Here SlackApi.grant(code, team) stands in for slack.com.
3. GET {bot}/slack/oauth_redirect?code=…&state=… with the cookie; Bolt checks the cookie against
   the state, exchanges the code with oauth.v2.access and stores the installation.

The cookie is Secure; over http://127.0.0.1 a browser still sends it (loopback counts as a
secure context), and so does this one.
"""

from __future__ import annotations

import itertools
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from typing import Protocol
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import aiohttp

AUTHORIZE_PATH = "/oauth/v2/authorize"

_codes = itertools.count(1)


class Grants(Protocol):
    """Who approves the install as slack.com would: SlackApi."""

    client_id: str

    def grant(
        self,
        code: str,
        team_id: str,
        *,
        installer: str = ...,
        enterprise_id: str | None = ...,
        is_enterprise_install: bool = ...,
        scope: str = ...,
        redirect_uri: str | None = ...,
    ) -> None: ...


class AuthorizeRefused(Exception):
    """slack.com would show an error page instead of redirecting back (e.g. an unknown
    client_id, no scopes), or the install page held no link to it."""


async def add_to_slack(
    bot_url: str,
    api: Grants,
    team: str,
    *,
    installer: str = "U0INSTALL1",
    enterprise_id: str | None = None,
    is_enterprise_install: bool = False,
    deny: bool = False,
    install_path: str = "/slack/install",
    redirect_path: str = "/slack/oauth_redirect",
) -> tuple[int, str]:
    """Install the app into `team` as a person would, from the bot's install page to its
    redirect URL; return the bot's answer to the redirect (status, HTML). `deny`: the person
    clicks Cancel on slack.com, which redirects with error=access_denied."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as browser:
        async with browser.get(bot_url + install_path, allow_redirects=False) as page:
            cookies = _cookies(page.headers.getall("Set-Cookie", []))
            if page.status in (301, 302, 303, 307, 308):
                authorize_url = page.headers["Location"]
            elif page.status == 200:
                authorize_url = _authorize_link(await page.text())
            else:
                raise AuthorizeRefused(f"{install_path} answered {page.status}")
        asked = {
            name: values[0] for name, values in parse_qs(urlsplit(authorize_url).query).items()
        }
        if asked.get("client_id") != api.client_id:
            raise AuthorizeRefused(f"invalid_client_id: {asked.get('client_id')!r}")
        if not asked.get("scope") and not asked.get("user_scope"):
            raise AuthorizeRefused("invalid_scope: the authorize URL asks for no scope")
        # slack.com redirects to the redirect_uri asked for (else the app's configured one); the
        # bot under test listens on bot_url, so its path is followed there.
        redirect_uri = asked.get("redirect_uri")
        target = urljoin(bot_url, urlsplit(redirect_uri).path if redirect_uri else redirect_path)
        back: dict[str, str] = {}
        if deny:
            back["error"] = "access_denied"
        else:
            code = f"stand-in-code-{next(_codes)}"
            api.grant(
                code,
                team,
                installer=installer,
                enterprise_id=enterprise_id,
                is_enterprise_install=is_enterprise_install,
                scope=asked.get("scope", ""),
                redirect_uri=redirect_uri,
            )
            back["code"] = code
        if "state" in asked:
            back["state"] = asked["state"]
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}
        async with browser.get(
            f"{target}?{urlencode(back)}", headers=headers, allow_redirects=False
        ) as landing:
            return landing.status, await landing.text()


def _cookies(set_cookies: list[str]) -> dict[str, str]:
    """The cookies a browser keeps from these Set-Cookie headers (a deletion removes one)."""
    kept: dict[str, str] = {}
    for header in set_cookies:
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(header)
        for name, morsel in parsed.items():
            if morsel["max-age"] == "0" or "1970" in morsel["expires"]:
                kept.pop(name, None)
            else:
                kept[name] = morsel.value
    return kept


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)  # entities (&amp;) are already decoded by the parser


def _authorize_link(html: str) -> str:
    links = _Links()
    links.feed(html)
    for href in links.hrefs:
        if urlsplit(href).path == AUTHORIZE_PATH:
            return href
    raise AuthorizeRefused(f"the install page links to no {AUTHORIZE_PATH}: {links.hrefs}")
