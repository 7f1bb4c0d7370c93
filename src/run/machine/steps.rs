//! The steps between phases: what the run does once a handler has changed its state.
//!
//! [`Run::advance`] runs after every input and takes whatever step the new state allows: start
//! publishing (or, members alone, listening) once every member is in; hold the publisher while
//! a member is away and resume once it is back; wait for the last deliveries once the broker has
//! taken everything. [`Run::leave`] is the one way out, for any [`Stop`].

use tokio::time::Instant;

use super::super::event::RunEvent;
use super::super::phase::{Phase, Stop};
use super::super::Role;
use super::Run;

impl Run {
    /// Takes the steps the run's state now allows: start publishing (or listening), hold or
    /// resume the publisher, or wait for the last deliveries.
    pub(super) fn advance(&mut self) {
        let waiting = || !self.group.waiting_for().is_empty();
        match self.phase {
            Phase::Joining if self.group.all_subscribed() => self.get_going(),
            Phase::Publishing | Phase::Holding { .. } if self.books.all_published() => {
                // Nothing is left to publish, so nothing is left to hold for.
                self.end_hold();
                self.await_deliveries();
            }
            Phase::Publishing if self.plan.hold && waiting() => self.hold(),
            Phase::Holding { .. } if !waiting() => self.end_hold(),
            _ => {}
        }
    }

    /// Every member is in: publish, or (members alone) listen.
    pub(super) fn get_going(&mut self) {
        let plan = &self.plan;
        if plan.role == Role::Subscriber {
            self.publishing.listen(plan, self.members);
            self.phase = Phase::Listening {
                until: Instant::now() + plan.timeout,
            };
            return;
        }
        let gate = self.group.gate();
        let (receipts, tasks) = (&self.receipts, &mut self.tasks);
        self.publishing
            .start(plan, receipts, &gate, self.lost.as_mut(), tasks);
        self.phase = Phase::Publishing;
    }

    /// A member is away: close the gate until it is back, or `--timeout`.
    pub(super) fn hold(&mut self) {
        self.group.set_gate(false);
        let waiting_for = self.group.waiting_for();
        self.books.record(&RunEvent::Holding { waiting_for });
        let now = Instant::now();
        self.phase = Phase::Holding {
            since: now,
            until: now + self.plan.timeout,
        };
    }

    /// Ends a hold, if one is on: the gate opens and the run says how long it held.
    pub(super) fn end_hold(&mut self) {
        let Phase::Holding { since, .. } = self.phase else {
            return;
        };
        self.group.held += since.elapsed();
        self.group.set_gate(true);
        let without = self.group.given_up.iter().cloned().collect();
        self.books.record(&RunEvent::Resumed {
            held_ms: since.elapsed().as_millis() as u64,
            without,
        });
        self.phase = Phase::Publishing;
    }

    /// The broker took every message; what has not arrived yet has `--timeout` to.
    pub(super) fn await_deliveries(&mut self) {
        tracing::info!(
            "publishing done; waiting up to {} (--timeout) for {} messages not received yet",
            humantime::format_duration(self.plan.timeout),
            self.books.outstanding()
        );
        self.phase = Phase::AwaitingDeliveries {
            until: Instant::now() + self.plan.timeout,
        };
    }

    /// The run is over for `stop` (unless it already is): a hold ends where it stands, the gate
    /// stays closed so that the publisher sends nothing new, and every task is told to finish.
    pub(super) fn leave(&mut self, stop: Stop) {
        if matches!(self.phase, Phase::Leaving { .. }) {
            return;
        }
        if let Phase::Holding { since, .. } = self.phase {
            self.group.held += since.elapsed();
        }
        self.group.set_gate(false);
        // Before `finish`: the publisher that announces the end must hear it first.
        self.publishing.tell_the_end(self.books.acknowledged());
        self.finish.cancel();
        let got_going = !matches!(self.phase, Phase::Joining);
        self.phase = Phase::Leaving { stop, got_going };
    }

    /// Leaving, with nothing left to wait for: what fails now cannot change the verdict.
    pub(super) fn only_leaving(&self) -> bool {
        let all_told = self.members > 0 && self.told_the_end.len() == self.members;
        matches!(self.phase, Phase::Leaving { .. }) && (self.books.all_accounted_for() || all_told)
    }
}
