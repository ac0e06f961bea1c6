"""Coordinating a job's many messages (the guidance's "coordinating multiple tasks").

- `fanout`: fan-out/fan-in: parts in parallel, one reduce when the last finishes.
- `saga`: chained steps through queues, with compensations run in reverse on a failure or
  a cancellation (pipes and filters + compensating transaction).
- `supervisor`: a timer's sweep for jobs stuck past a deadline, retried or compensated
  (scheduler-agent-supervisor).
"""

from .fanout import FanIn, FanOut, Part
from .saga import Saga, SagaMessage, Step, StepContext, StepFailed
from .supervisor import Supervisor, SweepReport

__all__ = [
    "FanIn",
    "FanOut",
    "Part",
    "Saga",
    "SagaMessage",
    "Step",
    "StepContext",
    "StepFailed",
    "Supervisor",
    "SweepReport",
]
