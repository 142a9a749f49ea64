"""The load side of the mixed benchmark: `python -m bench.mixed_load PLAN OUT`.

Runs in its own process (bench/mixed.py starts it) and imports nothing from Django: plain
`http.client`, one thread per client, each sending requests back to back (no think time) for the
plan's warm-up plus measured seconds. The operations come in the proportions of the plan's
weights, spread evenly (`mix`), each client starting at its own place in the cycle:

- `board`: `GET /board/<pipeline>/` with the client's session cookie (expects 200);
- `move`: `POST /api/v1/deals/<id>/move` of one of the client's own deals to the next stage of
  its pipeline (the first after the last) with the version last read (expects 200; a 409 is a
  conflict, counted apart from errors, after which the deal is read again);
- `touch`: `POST /api/v1/touches` on one of the client's deals, every fourth a closing touch
  (expects 201);
- `lead`: `POST /api/v1/leads` with a new name, phone and e-mail (expects 201).

Every POST carries a fresh `Idempotency-Key`. Each client owns its deals (no other client moves
them), so conflicts should not happen. An error is any other status, a connection error or a
timeout. Only requests started after the warm-up count in the figures; the totals of successes
(warm-up included) and the last stage and version the client saw of every deal are written too,
so that bench/mixed.py can check the database against them.
"""

from __future__ import annotations

import http.client
import json
import math
import random
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

OPERATIONS = ("board", "move", "touch", "lead")
# Not drawn from the mix: the read of a deal after a 409, shown only when it happened.
RELOAD = "reload"
EXPECTED = {"board": 200, "move": 200, "touch": 201, "lead": 201, RELOAD: 200}
TIMEOUT_S = 30.0
ERROR_EXAMPLES = 20


@dataclass
class Sample:
    op: str
    started: float  # seconds since the start of the run
    ms: float
    outcome: str  # "ok", "conflict" or "error"


@dataclass
class ClientState:
    """One client thread's own things: token, session, deals and what it recorded."""

    index: int
    token: str
    session_cookie: str
    deals: list[dict[str, int]]  # {"id", "version", "stage_id", "pipeline_id"}
    boards: list[int]  # pipelines whose board it views
    rng: random.Random = field(default_factory=random.Random)
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sent: int = 0
    drawn: int = 0  # operations started (a move after a 409 also sends a reload)
    next_deal: int = 0
    next_board: int = 0


class Load:
    def __init__(self, plan: dict[str, Any]) -> None:
        parts = urlsplit(plan["base_url"])
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.run = str(plan["run"])
        self.weights = {op: float(plan["weights"].get(op, 0)) for op in OPERATIONS}
        self.stages: dict[int, list[int]] = {
            int(pid): [int(s) for s in ids] for pid, ids in plan["stages"].items()
        }
        self.warmup_s = float(plan["warmup_seconds"])
        self.seconds = float(plan["seconds"])
        # Optional: stop each client after this many operations (tests), else at the deadline.
        self.requests: int | None = plan.get("requests_per_client")
        self.clients = [
            ClientState(
                index=i,
                token=c["token"],
                session_cookie=c["session_cookie"],
                deals=[dict(d) for d in c["deals"]],
                boards=list(c["boards"]),
            )
            for i, c in enumerate(plan["clients"])
        ]
        self.t0 = 0.0

    # --- one HTTP exchange ------------------------------------------------------------------

    def _exchange(
        self,
        conn: http.client.HTTPConnection,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None,
    ) -> tuple[int, bytes]:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        if response.will_close:
            conn.close()  # sync gunicorn answers `Connection: close`; the next request reconnects
        return response.status, data

    def _timed(
        self,
        client: ClientState,
        conn: http.client.HTTPConnection,
        op: str,
        method: str,
        path: str,
        headers: dict[str, str],
        payload: dict[str, Any] | None = None,
    ) -> tuple[str, int, bytes]:
        """Send one request; record and return (outcome, status, body). Status 0: no answer."""
        body = None if payload is None else json.dumps(payload).encode()
        if body is not None:
            headers = {**headers, "Content-Type": "application/json"}
        started = time.perf_counter()
        client.sent += 1
        try:
            status, data = self._exchange(conn, method, path, headers, body)
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            ms = (time.perf_counter() - started) * 1000
            client.samples.append(Sample(op, started - self.t0, ms, "error"))
            self._note(client, f"{op} {method} {path}: {type(exc).__name__}: {exc}")
            return "error", 0, b""
        ms = (time.perf_counter() - started) * 1000
        if status == EXPECTED[op]:
            outcome = "ok"
        elif op == "move" and status == 409:
            outcome = "conflict"
        else:
            outcome = "error"
            self._note(client, f"{op} {method} {path}: HTTP {status}: {data[:300]!r}")
        client.samples.append(Sample(op, started - self.t0, ms, outcome))
        return outcome, status, data

    def _note(self, client: ClientState, text: str) -> None:
        if len(client.errors) < ERROR_EXAMPLES:
            client.errors.append(text)

    # --- the operations ---------------------------------------------------------------------

    def _api_headers(self, client: ClientState, key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {client.token}", "Accept": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    def _key(self, client: ClientState) -> str:
        return f"bench-{self.run}-{client.index}-{client.sent}"

    def _deal(self, client: ClientState) -> dict[str, int]:
        deal = client.deals[client.next_deal % len(client.deals)]
        client.next_deal += 1
        return deal

    def board(self, client: ClientState, conn: http.client.HTTPConnection) -> None:
        pipeline = client.boards[client.next_board % len(client.boards)]
        client.next_board += 1
        headers = {"Cookie": client.session_cookie, "Accept": "text/html"}
        self._timed(client, conn, "board", "GET", f"/board/{pipeline}/", headers)

    def move(self, client: ClientState, conn: http.client.HTTPConnection) -> None:
        deal = self._deal(client)
        stages = self.stages[deal["pipeline_id"]]
        here = stages.index(deal["stage_id"]) if deal["stage_id"] in stages else -1
        target = stages[(here + 1) % len(stages)]
        outcome, _status, data = self._timed(
            client,
            conn,
            "move",
            "POST",
            f"/api/v1/deals/{deal['id']}/move",
            self._api_headers(client, self._key(client)),
            {"stage_id": target, "version": deal["version"]},
        )
        if outcome == "ok":
            self._remember(deal, data)
        elif outcome == "conflict":
            # Someone else changed the deal: read it again, as the API asks a client to.
            outcome, _status, data = self._timed(
                client,
                conn,
                RELOAD,
                "GET",
                f"/api/v1/deals/{deal['id']}",
                self._api_headers(client),
            )
            if outcome == "ok":
                self._remember(deal, data)

    def _remember(self, deal: dict[str, int], data: bytes) -> None:
        answer = json.loads(data)
        deal["version"] = int(answer["version"])
        deal["stage_id"] = int(answer["stage_id"])

    def touch(self, client: ClientState, conn: http.client.HTTPConnection) -> None:
        deal = self._deal(client)
        payload: dict[str, Any] = {
            "deal_id": deal["id"],
            "kind": "warming",
            "channel": "call",
            "note": f"bench-mixed {self.run}: called about the proposal",
        }
        if client.sent % 4 == 0:
            payload.update(kind="closing", step="meeting", outcome="advanced")
        self._timed(
            client,
            conn,
            "touch",
            "POST",
            "/api/v1/touches",
            self._api_headers(client, self._key(client)),
            payload,
        )

    def lead(self, client: ClientState, conn: http.client.HTTPConnection) -> None:
        n = client.sent
        tag = f"{client.index}-{n}"
        payload = {
            "name": f"Bench Lead {tag}",
            "phone": f"+1415{client.rng.randint(2000000, 9999999)}",
            "email": f"lead-{self.run}-{tag}@bench.example.com",
            "source": f"bench-mixed-{self.run}",
            "utm": {"utm_source": "bench", "utm_medium": "api"},
            "note": "Please call me back",
        }
        self._timed(
            client,
            conn,
            "lead",
            "POST",
            "/api/v1/leads",
            self._api_headers(client, self._key(client)),
            payload,
        )

    # --- the run ----------------------------------------------------------------------------

    def _client_loop(self, client: ClientState, end: float, seed: int) -> None:
        client.rng = random.Random(seed)
        order = mix(self.weights)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT_S)
        actions = {"board": self.board, "move": self.move, "touch": self.touch, "lead": self.lead}
        try:
            # Each client starts at its own place in the mix, so they do not move in step.
            n = client.index
            while time.perf_counter() < end and (
                self.requests is None or client.drawn < self.requests
            ):
                op = order[n % len(order)]
                n += 1
                client.drawn += 1
                if op in ("move", "touch") and not client.deals:
                    op = "board"
                actions[op](client, conn)
        finally:
            conn.close()

    def run_all(self) -> dict[str, Any]:
        self.t0 = time.perf_counter()
        end = self.t0 + self.warmup_s + self.seconds
        threads = [
            threading.Thread(
                target=self._client_loop, args=(c, end, 7919 * (c.index + 1)), daemon=True
            )
            for c in self.clients
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return summarise(self.clients, self.warmup_s)


def mix(weights: Mapping[str, float]) -> list[str]:
    """One cycle of the operations in the proportions of `weights` (whole numbers), spread out
    evenly (smooth weighted round robin): for 30/30/25/15 every operation comes within the first
    seven and the cycle of 100 holds exactly 30 board views, 30 moves, 25 touches, 15 leads."""
    shares = {op: int(w) for op, w in weights.items() if w > 0}
    total = sum(shares.values())
    current = dict.fromkeys(shares, 0)
    order = []
    for _ in range(total):
        for op, share in shares.items():
            current[op] += share
        pick = max(current, key=lambda op: current[op])
        current[pick] -= total
        order.append(pick)
    return order


def percentile(sorted_ms: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_ms:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_ms)))
    return sorted_ms[rank - 1]


def _figures(samples: list[Sample], seconds: float) -> dict[str, Any]:
    ms = sorted(s.ms for s in samples)
    p50, p99 = percentile(ms, 50), percentile(ms, 99)
    return {
        "requests": len(samples),
        "ok": sum(1 for s in samples if s.outcome == "ok"),
        "conflicts": sum(1 for s in samples if s.outcome == "conflict"),
        "errors": sum(1 for s in samples if s.outcome == "error"),
        "requests_per_s": round(len(samples) / seconds, 1) if seconds > 0 else 0.0,
        "p50_ms": None if p50 is None else round(p50, 1),
        "p99_ms": None if p99 is None else round(p99, 1),
        "max_ms": round(ms[-1], 1) if ms else None,
        "mean_ms": round(sum(ms) / len(ms), 1) if ms else None,
    }


def summarise(clients: list[ClientState], warmup_s: float) -> dict[str, Any]:
    """Per-operation and overall figures over the requests started after the warm-up; the
    successes of the whole run (warm-up included) and the deals as the clients last saw them."""
    every = [s for c in clients for s in c.samples]
    measured = [s for s in every if s.started >= warmup_s]
    finished = max((s.started + s.ms / 1000 for s in measured), default=warmup_s)
    seconds = finished - warmup_s
    ops = [*OPERATIONS, *([RELOAD] if any(s.op == RELOAD for s in every) else [])]
    return {
        "seconds": round(seconds, 2),
        "operations": {op: _figures([s for s in measured if s.op == op], seconds) for op in ops},
        "overall": _figures(measured, seconds),
        "whole_run": {
            "ok": {op: sum(1 for s in every if s.op == op and s.outcome == "ok") for op in ops},
            "errors": sum(1 for s in every if s.outcome == "error"),
            "conflicts": sum(1 for s in every if s.outcome == "conflict"),
        },
        "error_examples": [text for c in clients for text in c.errors][:ERROR_EXAMPLES],
        "deals": {
            str(d["id"]): {"version": d["version"], "stage_id": d["stage_id"]}
            for c in clients
            for d in c.deals
        },
    }


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m bench.mixed_load PLAN.json OUT.json", file=sys.stderr)
        sys.exit(2)
    plan = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    cpu = time.process_time()
    result = Load(plan).run_all()
    # The load shares the cores with the server: say how much of them it took.
    result["client_cpu_seconds"] = round(time.process_time() - cpu, 2)
    Path(args[1]).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
