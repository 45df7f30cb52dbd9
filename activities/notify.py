"""Pushing an inspection run's summary to people, through Apprise.

One template per format: e-mail gets HTML (with a plain-text part, Apprise's doing), chat
robots Markdown (DingTalk, WeCom, Feishu, Slack), anything else plain text. DingTalk's
signed robots are signed by Apprise (`dingtalk://SECRET@TOKEN`); a channel's `relay`
sends a chat robot's requests to the bank's own address of the platform instead of the
public cloud. A channel that fails is logged and reported, never fails the run.
"""

from __future__ import annotations

import asyncio
import html
import os
from typing import Any

import apprise
from pydantic import BaseModel, Field

from catalog.system_config import Channel
from nightwatch.logs import get_logger
from nightwatch.metrics import NOTIFICATION_FAILURES

log = get_logger("nightwatch.notify")
CHAT = {"dingtalk", "wecombot", "feishu", "lark", "slack"}
SHOWN = 20  # lines per section; the rest is counted


class RunReport(BaseModel):
    plan: str
    run_id: int
    trigger: str
    checks: int
    passed: int
    warned: int
    failed: int
    new_failures: list[str] = Field(default_factory=list)
    recoveries: list[str] = Field(default_factory=list)
    still_failing: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    only_changes: bool = True

    def worth_pushing(self) -> bool:
        if not self.only_changes:
            return True
        return bool(self.new_failures or self.recoveries or self.still_failing)

    @property
    def title(self) -> str:
        state = "FAILING" if self.new_failures or self.still_failing else "OK"
        return (
            f"[{state}] inspection {self.plan}: {len(self.new_failures)} new failure(s), "
            f"{len(self.recoveries)} recovered"
        )

    def sections(self) -> list[tuple[str, list[str]]]:
        return [
            ("New failures", self.new_failures),
            ("Recovered", self.recoveries),
            ("Still failing", self.still_failing),
        ]

    def counts(self) -> str:
        return (
            f"run {self.run_id} ({self.trigger.lower()}): {self.checks} checks, "
            f"{self.passed} passed, {self.warned} warned, {self.failed} failed"
        )


def _clip(lines: list[str]) -> list[str]:
    extra = len(lines) - SHOWN
    return lines[:SHOWN] + ([f"… and {extra} more"] if extra > 0 else [])


def render(report: RunReport, form: str) -> str:
    """The message body in `form` (text, markdown or html)."""
    if form == "html":
        parts = [f"<p>{html.escape(report.counts())}</p>"]
        for title, lines in report.sections():
            if lines:
                items = "".join(f"<li>{html.escape(line)}</li>" for line in _clip(lines))
                parts.append(f"<h3>{title}</h3><ul>{items}</ul>")
        return "\n".join(parts)
    if form == "markdown":
        parts = [f"**{report.plan}** — {report.counts()}"]
        for title, lines in report.sections():
            if lines:
                parts.append(f"\n**{title}**\n" + "\n".join(f"- {line}" for line in _clip(lines)))
        return "\n".join(parts)
    parts = [report.counts()]
    for title, lines in report.sections():
        if lines:
            parts.append(f"\n{title}:\n" + "\n".join(f"  - {line}" for line in _clip(lines)))
    return "\n".join(parts)


def _url(channel: Channel) -> str:
    if channel.url.startswith("env:"):
        name = channel.url.removeprefix("env:")
        value = os.environ.get(name)
        if not value:
            raise ValueError(f"environment variable {name} is not set")
        return value
    return channel.url


def _plugin(channel: Channel) -> Any:
    plugin: Any = apprise.Apprise.instantiate(_url(channel), suppress_exceptions=True)
    if plugin is None:
        raise ValueError("not an Apprise URL this server supports")
    scheme = type(plugin).__name__
    if channel.relay is not None:
        base = str(channel.relay).rstrip("/")
        if scheme == "NotifyDingTalk":
            plugin.notify_url = base + "/robot/send?access_token={token}"
        elif scheme == "NotifyWeComBot":
            plugin.api_url = f"{base}/cgi-bin/webhook/send?key={plugin.key}"
        elif scheme == "NotifyFeishu":
            plugin.notify_url = base + "/open-apis/bot/v2/hook/{token}/"
        else:
            raise ValueError(f"relay is for DingTalk, WeCom and Feishu robots, not {scheme}")
    return plugin


def _form(channel: Channel, plugin: Any) -> str:
    if channel.format:
        return channel.format
    schema = str(getattr(plugin, "secure_protocol", "") or getattr(plugin, "protocol", ""))
    names = {schema} if isinstance(schema, str) else set(schema)
    if type(plugin).__name__ == "NotifyEmail":
        return "html"
    if names & CHAT or type(plugin).__name__ in ("NotifyDingTalk", "NotifyWeComBot"):
        return "markdown"
    return "text"


async def push(report: RunReport, channels: list[Any]) -> list[str]:
    """Send the report to the named channels; return the names that took it."""
    known = {c["name"] if isinstance(c, dict) else c.name: c for c in channels}
    sent = []
    for name in report.channels:
        raw = known.get(name)
        if raw is None:
            log.warning("inspection channel not configured", channel=name, plan=report.plan)
            continue
        channel = raw if isinstance(raw, Channel) else Channel.model_validate(raw)
        try:
            plugin = _plugin(channel)
            form = _form(channel, plugin)
            ok = await asyncio.to_thread(
                plugin.notify,
                body=render(report, form),
                title=report.title,
                body_format=form,
            )
        except Exception as exc:  # a channel's failure never fails the run
            log.warning("inspection push failed", channel=name, error=type(exc).__name__)
            NOTIFICATION_FAILURES.labels(name).inc()
            continue
        if ok:
            sent.append(name)
        else:
            log.warning("inspection push refused", channel=name, plan=report.plan)
            NOTIFICATION_FAILURES.labels(name).inc()
    return sent
