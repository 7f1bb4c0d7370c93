//! The spec's words that several cases quote: MQTT Version 5.0, OASIS Standard, 7 March 2019.
//!
//! Each case quotes its own clauses beside its code; these are the ones more than one case
//! leans on. The numbers in brackets are the spec's own (its Appendix B lists every MUST with
//! one).

use super::finding::Must;

/// §4.5: a message the broker accepted must go to the sessions subscribed to it. For a shared
/// subscription that is one session of the group: a message no member ever gets breaks this.
pub const OWNERSHIP: Must = Must {
    clause: "[MQTT-4.5.0-1]",
    words:
        "When a Server takes ownership of an incoming Application Message it MUST add it to the \
            Session State for those Clients that have matching Subscriptions",
};

/// §4.8.2, the sentence that defines a shared subscription. It has no MUST of its own (it is
/// a definition), but a broker that gives one message to two members of one group, with no
/// fault in between, does not implement shared subscriptions as the spec defines them.
pub const ONE_MEMBER: Must = Must {
    clause: "§4.8.2",
    words: "Like a Non-shared Subscription, it has a Topic Filter and Subscription Options; \
            however, a publication that matches its Topic Filter is only sent to one of its \
            subscribing Sessions",
};

/// §4.4: what a kept session owes a member that comes back.
pub const RESEND: Must = Must {
    clause: "[MQTT-4.4.0-1]",
    words: "When a Client reconnects with Clean Start set to 0 and a session is present, both the \
            Client and Server MUST resend any unacknowledged PUBLISH packets (where QoS > 0) and \
            PUBREL packets using their original Packet Identifiers",
};

/// §3.3.1.1: a message sent again says so.
pub const DUP: Must = Must {
    clause: "[MQTT-3.3.1-1]",
    words: "The DUP flag MUST be set to 1 by the Client or Server when it attempts to re-deliver \
            a PUBLISH packet",
};

/// §3.1.2.11.2: a session with an expiry outlives its connection.
pub const KEEP_SESSION: Must = Must {
    clause: "[MQTT-3.1.2-23]",
    words: "The Client and Server MUST store the Session State after the Network Connection is \
            closed if the Session Expiry Interval is greater than 0",
};

/// §3.3.4: a member's Receive Maximum bounds what the broker may send it unacknowledged.
pub const RECEIVE_MAXIMUM: Must = Must {
    clause: "[MQTT-3.3.4-9]",
    words:
        "The Server MUST NOT send more than Receive Maximum QoS 1 and QoS 2 PUBLISH packets for \
            which it has not received PUBACK, PUBCOMP, or PUBREC with a Reason Code of 128 or \
            greater from the Client",
};
