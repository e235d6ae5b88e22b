"""The callback load benchmark's own parts (bench/ncs_load.py) against the product's receiver; no timing asserted."""

from __future__ import annotations

import random
import uuid

from temporalio.client import Client

from bench.ncs_load import Connections, drive, figures, http_sender, make_plan
from recorder.ncs import Receiver, signature_matches
from tests.ncs.support import serving

SECRET = "ncs-load-secret-3Jd8"


def test_the_plan_signs_every_delivery_and_resends_keep_the_notice_with_a_new_body():
    """Every planned body verifies with the secret; a resend carries its first delivery's noticeId in a new body."""
    plan = make_plan(200, 3, {"c1": "sid1", "c2": "sid2"}, SECRET, 0.3, random.Random(1))
    assert len(plan.deliveries) == 600
    for d in plan.deliveries:
        headers = {k.lower(): v for k, v in d.headers.items()}
        assert signature_matches(d.body, headers, [SECRET])
    resends = [(i, d) for i, d in enumerate(plan.deliveries) if d.resend_of is not None]
    assert resends
    for i, d in resends:
        first = plan.deliveries[d.resend_of or 0]
        assert first.resend_of is None and first.notice_id == d.notice_id and first.body != d.body
        assert i - (d.resend_of or 0) >= 200  # at least RESEND_AFTER (1 s) of slots later
    assert len({d.notice_id for d in plan.deliveries}) == len(plan.deliveries) - len(resends)


async def test_the_load_gets_every_answer_and_resends_are_answered_as_repeats(dev_client: Client):
    """Driven open loop through the bench's connections, every delivery is answered 200 and resends come back repeat."""
    receiver = Receiver(dev_client, app_id="bench" + uuid.uuid4().hex, secrets=[SECRET], task_queue="no-worker")
    plan = make_plan(50, 2.5, {f"nobody-{uuid.uuid4().hex[:6]}": "sid"}, SECRET, 0.4, random.Random(2))
    async with serving(receiver) as url:
        connections = Connections(url, 8)
        spread = await drive(plan, http_sender(connections, plan))
        await connections.close()
    result = figures(plan, spread, spread)
    assert result["answers"] == {"200": len(plan.deliveries)}
    assert result["resends_after_answer"] > 0
    assert result["resends_answered_repeat"] == result["resends_after_answer"]
    assert receiver.counts["unowned"] == len({d.notice_id for d in plan.deliveries})
    assert all(d.latency_ms is not None for d in plan.deliveries)
