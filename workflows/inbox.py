"""CallbackInboxWorkflow: the callbacks about sids no running recording owns, kept so an operator sees them.

Such a callback is a recorder started outside the product or one that outlived its workflow: either way a recorder
nobody supervises, perhaps billing. One inbox per App ID (`names.inbox_id`) keeps the latest of them, deduplicated by
noticeId, with a count per event type; `recorder callbacks` lists them.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import names
    from workflows.models import InboxEvent, InboxView, RecorderEvent

# The latest unowned callbacks kept (a recorder sends a few dozen callbacks in its life).
KEPT = 1000
# Signals taken before the inbox continues as new, so its history stays small.
SIGNALS_PER_RUN = 2000


@workflow.defn(name=names.INBOX_WORKFLOW_NAME)
class CallbackInboxWorkflow:
    """Keeps unowned callbacks until the end of time, continuing as new as they accumulate."""

    @workflow.init
    def __init__(self, carried: InboxView | None) -> None:
        self._events: list[InboxEvent] = list(carried.events) if carried else []
        self._counts: dict[int, int] = dict(carried.counts) if carried else {}
        self._total = carried.total if carried else 0
        self._taken = 0

    @workflow.run
    async def run(self, carried: InboxView | None) -> None:
        """Wait for callbacks; continue as new once this run has taken enough of them."""
        await workflow.wait_condition(lambda: self._taken >= SIGNALS_PER_RUN)
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self.view())

    @workflow.signal(name=names.INBOX_SIGNAL)
    def unowned_event(self, event: RecorderEvent) -> None:
        """Keep one unowned callback (a repeat of a noticeId already kept is ignored)."""
        self._taken += 1
        if any(kept.event.notice_id == event.notice_id for kept in self._events):
            return
        self._events = [*self._events, InboxEvent(received_at=workflow.now(), event=event)][-KEPT:]
        self._counts[event.event_type] = self._counts.get(event.event_type, 0) + 1
        self._total += 1

    @workflow.query
    def view(self) -> InboxView:
        """The latest unowned callbacks and the counts."""
        return InboxView(events=self._events, counts=self._counts, total=self._total)
