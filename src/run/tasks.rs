//! The run's clients as tasks: what the loop asks to start, and how it learns that one ended.
//!
//! The loop decides *when* a client starts (members at once, a `--churn` joiner at its point, the
//! publisher once the group is in) but not *how*: it hands a [`Start`] to a launcher. The real
//! one, [`spawner`], starts each client as a tokio task against the broker and reports its end on
//! a channel, beside the events. A unit test hands the loop a launcher that only notes what it
//! was asked to start, and plays the clients' events and ends itself: the loop is tested without
//! a broker, in paused time.

use std::future::Future;

use anyhow::anyhow;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::event::{Reporter, RunEvent};
use super::member::{self, Member};
use super::publication::{FromTheRun, Publication};
use super::publisher;
use super::roster::Client;
use crate::mqtt::Broker;

/// A client the loop asks to start.
pub enum Start {
    Member(Member),
    /// A publisher (one of `--publishers`), and its lines from the run: its side of the gate
    /// (see `group.rs`), the run's requests to send again what a member's broken session lost
    /// (see `lost.rs`), and the end of the run (`--role publisher`).
    Publisher {
        publication: Publication,
        from_the_run: FromTheRun,
    },
}

/// A client's task ended, with this result.
pub struct TaskEnd {
    pub client: Client,
    pub result: anyhow::Result<()>,
}

/// Something that starts clients: [`spawner`] for a real run.
pub type Launch = Box<dyn FnMut(Start) + Send>;

/// The loop's side: starts clients through its launcher and counts those still running.
pub struct Tasks {
    launch: Launch,
    running: usize,
}

impl Tasks {
    pub fn new(launch: Launch) -> Tasks {
        Tasks { launch, running: 0 }
    }

    pub fn start(&mut self, start: Start) {
        self.running += 1;
        (self.launch)(start);
    }

    /// One task ended.
    pub fn ended(&mut self) {
        self.running = self.running.saturating_sub(1);
    }

    /// Tasks started and not ended yet.
    pub fn running(&self) -> usize {
        self.running
    }
}

/// The real launcher: each client a tokio task against `broker`, reporting on `events`, told to
/// stop by `finish`, its end sent on `ends`.
pub fn spawner(
    broker: Broker,
    events: mpsc::Sender<RunEvent>,
    ends: mpsc::UnboundedSender<TaskEnd>,
    finish: CancellationToken,
) -> Launch {
    Box::new(move |start| match start {
        Start::Member(member) => {
            let client = Client::Member(member.who.clone());
            let reporter = Reporter::new(client.clone(), events.clone());
            let task = member::run(broker.clone(), member, reporter, finish.clone());
            spawn(client, task, ends.clone());
        }
        Start::Publisher {
            publication,
            from_the_run,
        } => {
            let client = Client::Publisher(publication.client_id.as_str().into());
            let reporter = Reporter::new(client.clone(), events.clone());
            let (broker, finish) = (broker.clone(), finish.clone());
            let task = publisher::run(broker, publication, reporter, from_the_run, finish);
            spawn(client, task, ends.clone());
        }
    })
}

/// Runs `client`'s `task` and sends its end, a panic included, on `ends`.
fn spawn(
    client: Client,
    task: impl Future<Output = anyhow::Result<()>> + Send + 'static,
    ends: mpsc::UnboundedSender<TaskEnd>,
) {
    let handle = tokio::spawn(task);
    tokio::spawn(async move {
        let result = handle
            .await
            .unwrap_or_else(|join_error| Err(anyhow!("a client task failed: {join_error}")));
        let _ = ends.send(TaskEnd { client, result });
    });
}
