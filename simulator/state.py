"""The simulator's in-memory world: applications and their container instances."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SimInstance:
    name: str
    status: str
    node: str


@dataclass
class Fault:
    """Answers of an endpoint under test: fail `count` times with `status`, or be slow."""

    status: int = 503
    count: int = 0
    delay_seconds: float = 0.0
    message: str = "injected fault"


@dataclass
class World:
    apps: dict[str, list[SimInstance]] = field(default_factory=dict)
    chat: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    faults: dict[str, Fault] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    @classmethod
    def seeded(cls) -> World:
        def pods(app: str, statuses: list[str]) -> list[SimInstance]:
            return [
                SimInstance(f"{app}-{i}", status, f"node-{(i % 3) + 1}")
                for i, status in enumerate(statuses, 1)
            ]

        return cls(
            apps={
                "loan-api": pods("loan-api", ["Running", "Running", "Running", "Failed"]),
                "payment-gateway": pods("payment-gateway", ["Running", "Stopped", "Failed"]),
                "core-banking-a": pods("core-banking-a", ["Running", "Running"]),
                "core-banking-b": pods("core-banking-b", ["Running", "Pending"]),
            }
        )
