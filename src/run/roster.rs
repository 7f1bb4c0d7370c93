//! Who is who in a run: every client's id, and for each member the place where its receipts
//! are counted.
//!
//! Events name their client. A name alone would leave the books to look it up, and to guess
//! when it is not there; so the run hands each member a [`MemberRef`] when it sets the member up,
//! and the member's events carry it. A `MemberRef` knows its [`Seat`] (which set of books, which
//! row), made once from the same list that sized the books: a receipt always has a place, by
//! construction. In JSON a member, like any client, is just its client id.

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use super::{Plan, Subscription};

/// Where a member's receipts are counted: its group's books (`book`, in `Plan::filters` order,
/// then the control subscriber's) and its row there (`index`, in start order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seat {
    pub book: usize,
    pub index: usize,
}

/// A member as its events name it: cheap to clone, one allocation for the whole run.
#[derive(Clone, PartialEq, Eq)]
pub struct MemberRef(Arc<Named>);

#[derive(PartialEq, Eq)]
struct Named {
    client_id: String,
    topic: String,
    seat: Seat,
}

impl MemberRef {
    pub fn client_id(&self) -> &str {
        &self.0.client_id
    }

    /// The plain topic its messages arrive on.
    pub fn topic(&self) -> &str {
        &self.0.topic
    }

    pub fn seat(&self) -> Seat {
        self.0.seat
    }
}

impl fmt::Debug for MemberRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.client_id())
    }
}

impl Serialize for MemberRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.client_id())
    }
}

/// Any client of the run: the publisher, or a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Client {
    Publisher(Arc<str>),
    Member(MemberRef),
}

impl Client {
    pub fn client_id(&self) -> &str {
        match self {
            Client::Publisher(id) => id,
            Client::Member(member) => member.client_id(),
        }
    }

    /// The member, unless it is the publisher.
    pub fn member(&self) -> Option<&MemberRef> {
        match self {
            Client::Member(member) => Some(member),
            Client::Publisher(_) => None,
        }
    }
}

impl Serialize for Client {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.client_id())
    }
}

/// The members of one set of books, seated in order: the only way to make a [`MemberRef`].
pub struct Roster {
    members: Vec<MemberRef>,
}

impl Roster {
    pub fn new() -> Roster {
        Roster {
            members: Vec::new(),
        }
    }

    /// Every subscribing client of `plan`, seated in its books in order, with its ref.
    pub fn of(plan: &Plan) -> (Roster, Vec<(Subscription, MemberRef)>) {
        let mut roster = Roster::new();
        let seated = plan
            .subscriptions()
            .into_iter()
            .map(|subscription| {
                let member = roster.seat(&subscription.client_id, plan.topic(), subscription.book);
                (subscription, member)
            })
            .collect();
        (roster, seated)
    }

    /// Seats `client_id` in `book`, after the members already there, and returns its ref.
    pub fn seat(&mut self, client_id: &str, topic: &str, book: usize) -> MemberRef {
        let index = self
            .members
            .iter()
            .filter(|member| member.seat().book == book)
            .count();
        let member = MemberRef(Arc::new(Named {
            client_id: client_id.to_owned(),
            topic: topic.to_owned(),
            seat: Seat { book, index },
        }));
        self.members.push(member.clone());
        member
    }

    /// The client ids seated in `book`, in order: the rows of its books.
    pub fn ids(&self, book: usize) -> Vec<String> {
        self.members
            .iter()
            .filter(|member| member.seat().book == book)
            .map(|member| member.client_id().to_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seats_count_per_book_and_serialize_as_the_client_id() {
        let mut roster = Roster::new();
        let a = roster.seat("a", "t", 0);
        let control = roster.seat("control", "t", 1);
        let b = roster.seat("b", "t", 0);
        assert_eq!(b.seat(), Seat { book: 0, index: 1 });
        assert_eq!(control.seat(), Seat { book: 1, index: 0 });
        assert_eq!(roster.ids(0), ["a", "b"]);
        assert_eq!(serde_json::to_string(&Client::Member(a)).unwrap(), r#""a""#);
    }
}
