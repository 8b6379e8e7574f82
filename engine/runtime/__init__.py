"""The pure runtime: (compiled flow, case, event or due timer, now) → the case's next state
and the step's effects. No wall-clock reads and no I/O.

Where to look:
- flow_runtime.py: `FlowRuntime` — open, fire (the general path and the fast path side by
  side), moving between states, and where a due timer fires (`_fire_timer`).
- compile.py: a state's and an SLA's definition compiled into the plan that runs.
- actions.py: `set`, `notify`, `escalate`, `assign`, `callback`, `emit` as closures.
- timers.py: when a timer is armed, re-armed and cancelled.
- slas.py: when an SLA clock starts, pauses, warns and breaches.
- context.py: a step in progress, its rollback, and the audit rows it writes.
- plans.py: the compiled pieces, and `Step`, what a step returns.
"""

from engine.runtime.context import _SAVED, _Ctx
from engine.runtime.flow_runtime import FlowRuntime
from engine.runtime.plans import MAX_AUTOMATIC_STEPS, Offer, Step

__all__ = ["MAX_AUTOMATIC_STEPS", "_SAVED", "FlowRuntime", "Offer", "Step", "_Ctx"]
