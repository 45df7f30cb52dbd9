"""Run summaries reach people: e-mail on a real SMTP server (aiosmtpd), DingTalk's signed
robot and WeCom's robot on a local HTTP receiver that checks the body and the signature.
Only changes are pushed: a target that stays failing is not pushed again until reminded."""

from __future__ import annotations

import base64
import email
import hashlib
import hmac
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import unquote

import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI, Request
from sqlalchemy import update

from storage.db import session_factory
from storage.models import SystemConfig
from tests.inspection.conftest import Inspect, http_plan
from tests.support import free_port, serve

SECRET = "SECabc123"
TOKEN = "robot42token"
KEY = "wecom-key-1"


@dataclass
class Receiver:
    url: str = ""
    chat: list[dict[str, Any]] = field(default_factory=list)
    mail: list[Message] = field(default_factory=list)
    bad_signatures: int = 0


def _dingtalk_signature_ok(timestamp: str, sign: str) -> bool:
    """DingTalk's check: base64(HMAC-SHA256(secret, "timestamp\\nsecret")), within an hour."""
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(), hashlib.sha256).digest()
    ).decode()
    fresh = abs(time.time() * 1000 - int(timestamp)) < 3_600_000
    return fresh and hmac.compare_digest(unquote(sign), expected)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    app = FastAPI()

    @app.post("/robot/send")
    async def dingtalk(request: Request) -> dict[str, Any]:
        query = request.query_params
        if query.get("access_token") != TOKEN or not _dingtalk_signature_ok(
            query.get("timestamp", "0"), query.get("sign", "")
        ):
            found.bad_signatures += 1
            return {"errcode": 310000, "errmsg": "sign not match"}
        found.chat.append({"to": "dingtalk", **(await request.json())})
        return {"errcode": 0, "errmsg": "ok"}

    @app.post("/cgi-bin/webhook/send")
    async def wecom(request: Request) -> dict[str, Any]:
        if request.query_params.get("key") != KEY:
            return {"errcode": 93000, "errmsg": "invalid webhook url"}
        found.chat.append({"to": "wecom", **(await request.json())})
        return {"errcode": 0, "errmsg": "ok"}

    class Mailbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            found.mail.append(email.message_from_bytes(envelope.content))
            return "250 OK"

    port = free_port()
    smtp = Controller(Mailbox(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        with serve(app) as url:
            found.url = url
            found.mail_url = (  # type: ignore[attr-defined]
                f"mailto://127.0.0.1:{port}?from=nightwatch@bank.local&to=ops@bank.local"
                "&mode=insecure"
            )
            yield found
    finally:
        smtp.stop()


def _channels(db: str, channels: list[dict[str, Any]]) -> None:
    with session_factory(db)() as session:
        session.execute(
            update(SystemConfig)
            .where(SystemConfig.key == "inspection.channels")
            .values(value={"value": channels})
        )
        session.commit()


def _text(message: Message) -> str:
    parts = [p for p in message.walk() if p.get_content_type() == "text/plain"]
    payload = parts[0].get_payload(decode=True) if parts else b""
    return payload.decode() if isinstance(payload, bytes) else str(payload)


async def test_changes_are_pushed_to_mail_dingtalk_and_wecom_once(
    inspect: Inspect, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NW_TEST_WECOM_URL", f"wecombot://{KEY}")
    _channels(
        inspect.db,
        [
            {"name": "ops-mail", "url": receiver.mail_url},  # type: ignore[attr-defined]
            {"name": "ops-dingtalk", "url": f"dingtalk://{SECRET}@{TOKEN}/", "relay": receiver.url},
            {"name": "ops-wecom", "url": "env:NW_TEST_WECOM_URL", "relay": receiver.url},
            {"name": "unused", "url": "json://127.0.0.1:1/never"},
        ],
    )
    name = inspect.name("push")
    plan = http_plan(name, inspect.targets.url)
    plan["notify"] = {"channels": ["ops-mail", "ops-dingtalk", "ops-wecom", "not-configured"]}
    await inspect.apply(plan)
    inspect.targets.status["pay"] = 502

    failing = await inspect.run_now(name)
    assert sorted(failing.notified) == ["ops-dingtalk", "ops-mail", "ops-wecom"]
    assert receiver.bad_signatures == 0
    dingtalk = [m for m in receiver.chat if m["to"] == "dingtalk"]
    assert len(dingtalk) == 1 and dingtalk[0]["msgtype"] == "markdown"
    assert f"[FAILING] inspection {name}: 1 new failure(s)" in dingtalk[0]["markdown"]["title"]
    assert "pay-api on" in dingtalk[0]["markdown"]["text"]
    assert "status < 400 (observed 502)" in dingtalk[0]["markdown"]["text"]
    wecom = [m for m in receiver.chat if m["to"] == "wecom"]
    assert len(wecom) == 1 and "pay-api" in str(wecom[0])
    assert len(receiver.mail) == 1
    mail = receiver.mail[0]
    assert mail["Subject"].startswith(f"[FAILING] inspection {name}")
    assert mail["To"] == "ops@bank.local"
    assert "status < 400 (observed 502)" in _text(mail)

    still = await inspect.run_now(name)
    assert still.notified == [] and len(receiver.chat) == 2 and len(receiver.mail) == 1

    inspect.targets.status["pay"] = 200
    recovered = await inspect.run_now(name)
    assert sorted(recovered.notified) == ["ops-dingtalk", "ops-mail", "ops-wecom"]
    assert "Recovered" in receiver.chat[-1].get("markdown", {}).get(
        "text", ""
    ) or "Recovered" in str(receiver.chat[-1])
    assert TOKEN not in str(recovered) and SECRET not in str(recovered)


async def test_a_channel_that_is_down_never_fails_the_run(
    inspect: Inspect, receiver: Receiver
) -> None:
    _channels(
        inspect.db,
        [
            {
                "name": "down",
                "url": f"dingtalk://{SECRET}@{TOKEN}/",
                "relay": f"http://127.0.0.1:{free_port()}",
            },
            {"name": "forged", "url": f"dingtalk://WRONGsecret@{TOKEN}/", "relay": receiver.url},
        ],
    )
    name = inspect.name("refused")
    plan = http_plan(name, inspect.targets.url)
    plan["notify"] = {"channels": ["down", "forged"]}
    await inspect.apply(plan)
    inspect.targets.status["pay"] = 500
    summary = await inspect.run_now(name)
    assert summary.failed == 1 and "down" not in summary.notified
    # The robot refuses a wrong signature (DingTalk answers HTTP 200 with an error code,
    # which Apprise does not read: docs/inspection.md says so).
    assert receiver.bad_signatures == 1 and receiver.chat == []
