"""The tests' real OpenID provider: oidc-provider (npm) under the machine's Node.js.

`OidcServer` starts `tests/oidc/provider.mjs` on a free port with a fresh RSA key, two
clients (Nightwatch and another application) and two users in different groups; `rotate`
restarts it with a new key (the same issuer), as a provider rotating its keys would;
`sign_in` fills in the provider's development login and consent pages like a browser.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
from joserfc.jwk import RSAKey

from identity.model import Role
from identity.oidc import OidcConfig, Provider, SignInStart
from tests.support import free_port, wait_until

HERE = Path(__file__).parents[1] / "oidc"
NODE = shutil.which("node")
INSTALLED = (HERE / "node_modules" / "oidc-provider").is_dir()
REDIRECT = "http://127.0.0.1:9/signed-in"
SECRET = "test-client-secret-0123456789"
USERS = {
    "alice": {"name": "Alice Approver", "groups": ["ops-approvers"]},
    "bob": {"name": "Bob Operator", "groups": ["ops-operators"]},
}
ROLES_BY_GROUP = {
    "ops-approvers": frozenset({Role.APPROVER}),
    "ops-operators": frozenset({Role.OPERATOR}),
}


class OidcServer:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.generation = 0

    def start(self) -> None:
        self.generation += 1
        key = RSAKey.generate_key(
            2048, parameters={"kid": f"key-{self.generation}", "use": "sig", "alg": "RS256"}
        )
        config = {
            "port": self.port,
            "issuer": self.issuer,
            "keys": [key.as_dict(private=True)],
            "clients": [
                {
                    "client_id": client,
                    "client_secret": SECRET,
                    "redirect_uris": [REDIRECT],
                    "grant_types": ["authorization_code"],
                    "response_types": ["code"],
                }
                for client in ("nightwatch", "other-app")
            ],
            "users": USERS,
        }
        path = self.workdir / f"provider-{self.generation}.json"
        path.write_text(json.dumps(config))
        path.chmod(0o600)
        log = (self.workdir / "provider.log").open("ab")
        assert NODE is not None
        self.process = subprocess.Popen(
            [NODE, str(HERE / "provider.mjs"), str(path)], stdout=log, stderr=log
        )
        wait_until(self._up, timeout=30, what=f"oidc-provider on {self.issuer}")

    def _up(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"oidc-provider exited: {(self.workdir / 'provider.log').read_text()[-2000:]}"
            )
        try:
            return httpx.get(
                f"{self.issuer}/.well-known/openid-configuration", timeout=1
            ).is_success
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def rotate(self) -> None:
        """New signing key, same issuer (the provider forgets its old sessions too)."""
        self.stop()
        self.start()

    def config(self, client: str = "nightwatch") -> OidcConfig:
        return OidcConfig(
            issuer=self.issuer,
            client_id=client,
            client_secret=SECRET,
            redirect_uri=REDIRECT,
            roles_by_group=ROLES_BY_GROUP,
        )

    async def sign_in(self, provider: Provider, user: str) -> tuple[SignInStart, str]:
        """Start a sign-in, go through the provider's pages as `user`: the callback URL."""
        started = await provider.start()
        return started, await asyncio.to_thread(self.browse, started.url, user)

    def browse(self, url: str, user: str) -> str:
        """Go through the provider's pages from `url` as `user`: the callback URL."""
        with httpx.Client(follow_redirects=False, timeout=10) as browser:
            response = browser.get(url)
            for _ in range(12):
                location = response.headers.get("location")
                if response.is_redirect and location:
                    if location.startswith(REDIRECT):
                        return str(location)
                    response = browser.get(httpx.URL(self.issuer).join(location))
                    continue
                page = response.text
                action = re.search(r'action="([^"]+)"', page)
                assert action, f"no form on the provider's page: {page[:500]}"
                fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page))
                if 'name="login"' in page:
                    fields.update(login=user, password="any: the development login takes any")
                response = browser.post(httpx.URL(self.issuer).join(action.group(1)), data=fields)
        raise AssertionError("the provider never sent the browser back")
