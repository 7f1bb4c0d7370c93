//! Reading an AWS IoT policy as AWS reads it: does this policy let this client do this?
//!
//! `--demo --policy FILE` asks that question for every CONNECT, PUBLISH and SUBSCRIBE the demo
//! broker sees, so a policy can be rehearsed before AWS; the tests ask it for every action a run
//! takes, to prove that `--print-policy` allows exactly those. One reader for both, so that what
//! the tests prove is what the demo applies.
//!
//! How AWS reads a policy, and where it says so:
//!
//! * A policy is JSON: `Version` (must be `2012-10-17`) and `Statement`, a statement or a list of
//!   them; each statement has an `Effect` (`Allow` or `Deny`), an `Action` and a `Resource`, each
//!   a string or a list of strings. AWS IoT Core developer guide, "AWS IoT policy elements".
//! * Nothing is allowed unless a statement allows it, and a matching `Deny` wins over any `Allow`:
//!   AWS IoT Core developer guide, "AWS IoT Core policies" ("follow the same policy evaluation
//!   logic as IAM policies … implicitly denied … an explicit deny in any policy overrides any
//!   allows").
//! * Actions are `iot:Connect`, `iot:Publish`, `iot:Subscribe`, `iot:Receive`, and their resources
//!   are `client/<client id>`, `topic/<topic>` (Publish and Receive) and `topicfilter/<filter>`
//!   (Subscribe): "AWS IoT policy elements". The action's prefix and name are case-insensitive:
//!   IAM User Guide, "IAM JSON policy elements: Action".
//! * In a resource, `*` stands for any run of characters (`/` and `:` included) and `?` for any one
//!   character; MQTT's `+` and `#` mean nothing: AWS IoT Core developer guide, "Publish/Subscribe
//!   policy examples", section "Using wildcard characters in MQTT and AWS IoT Core policies", and
//!   IAM User Guide, "IAM JSON policy elements: Resource", section "Using wildcards in resource
//!   ARNs". (IAM speaks of wildcards *within* the colon-separated segments of an ARN; here a `*`
//!   may also run across a colon, so a pattern never matches less than it does on AWS.)
//! * `${*}`, `${?}` and `${$}` are the characters `*`, `?` and `$` themselves: IAM User Guide,
//!   "IAM policy elements: Variables and tags", section "Special characters". `${iot:ClientId}`
//!   is the client id of the connection ("AWS IoT Core policy variables"); its value counts
//!   literally. A variable with no value here (a thing name, a certificate field: the demo has
//!   neither) makes its resource match nothing: "Variables and tags", section "Policy variables
//!   with no value".
//! * A policy holds at most 2,048 characters, whitespace not counted: AWS IoT API Reference,
//!   "CreatePolicy", `policyDocument` ("a maximum length of 2048, excluding whitespace").
//!
//! Where a resource says which partition, region and account it means (`arn:aws:iot:eu-west-1:
//! 123456789012:`, or the placeholders `REGION` and `ACCOUNT_ID` of `--print-policy`), this reader
//! takes it at its word: it answers for every region and account, as if the request came from the
//! one the resource names. So a policy printed with `--region` and `--account` and one with the
//! placeholders read the same. The service segment must still be `iot`.
//!
//! What this reader refuses to guess at: `Condition` (the demo has no thing registry, no
//! certificate fields, no clock worth reasoning about), `NotAction`, `NotResource` and
//! `Principal`. A policy with one of them is refused with the statement named, rather than read
//! wrong.
//!
//! The reader in three files: this one holds the policy, the request and the decision (a `Deny`
//! wins); `parse.rs` reads the JSON; `matching.rs` says whether a statement's patterns, with
//! their wildcards and policy variables, cover a request.

mod matching;
mod parse;

/// The longest policy document AWS IoT Core accepts, in characters, whitespace not counted.
///
/// AWS IoT API Reference, "CreatePolicy", request parameter `policyDocument`: "a maximum length of
/// 2048, excluding whitespace" (the AWS CLI's `create-policy` says the same).
pub const MAX_POLICY_CHARACTERS: usize = 2048;

/// The only policy language version AWS IoT accepts, and the one that knows policy variables.
/// AWS IoT Core developer guide, "AWS IoT policy elements": "Version: Must be set to 2012-10-17".
pub const POLICY_VERSION: &str = "2012-10-17";

/// How AWS counts a policy's size: characters that are not whitespace.
pub fn policy_characters(document: &str) -> usize {
    document.chars().filter(|c| !c.is_whitespace()).count()
}

/// A policy document, read and checked.
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone)]
struct Statement {
    /// Its `Sid`, or `statement N` (counted from 1) for one without.
    name: String,
    effect: Effect,
    actions: Vec<String>,
    resources: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

/// One thing a client asks to do: an action on a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `iot:Connect`, `iot:Publish`, `iot:Subscribe` or `iot:Receive`.
    pub action: &'static str,
    /// What follows the account in the resource's ARN: `client/<id>`, `topic/<topic>`,
    /// `topicfilter/<filter>`.
    pub resource: String,
    /// The client asking: the value of `${iot:ClientId}`.
    pub client_id: String,
}

impl Request {
    /// `client_id` connects: `iot:Connect` on `client/<client_id>`.
    pub fn connect(client_id: &str) -> Request {
        Request::new("iot:Connect", format!("client/{client_id}"), client_id)
    }

    /// `client_id` publishes to `topic`: `iot:Publish` on `topic/<topic>`.
    pub fn publish(client_id: &str, topic: &str) -> Request {
        Request::new("iot:Publish", format!("topic/{topic}"), client_id)
    }

    /// `client_id` subscribes to `filter` (`$share/<group>/<topic>` for a shared subscription):
    /// `iot:Subscribe` on `topicfilter/<filter>`.
    pub fn subscribe(client_id: &str, filter: &str) -> Request {
        Request::new("iot:Subscribe", format!("topicfilter/{filter}"), client_id)
    }

    /// The broker delivers a message to `client_id` on `topic`: `iot:Receive` on `topic/<topic>`.
    /// For a member of a shared subscription AWS checks `topic/$share/<group>/<topic>` (FACTS.md,
    /// "AWS IoT Core"), so a run asks for both.
    pub fn receive(client_id: &str, topic: &str) -> Request {
        Request::new("iot:Receive", format!("topic/{topic}"), client_id)
    }

    fn new(action: &'static str, resource: String, client_id: &str) -> Request {
        Request {
            action,
            resource,
            client_id: client_id.to_owned(),
        }
    }
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {}", self.action, self.resource)
    }
}

/// What a policy says to one [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A statement allows it, and none denies it.
    Allowed { by: String },
    /// A `Deny` statement matches it: that wins over every `Allow`.
    Denied { by: String },
    /// No statement mentions it, so it is denied by default.
    NotAllowed,
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decision::Allowed { by } => write!(f, "allowed by {by}"),
            Decision::Denied { by } => write!(f, "denied by {by}"),
            Decision::NotAllowed => write!(f, "no statement allows it"),
        }
    }
}

impl Policy {
    /// What the policy says to `request`: a matching `Deny` wins, then any matching `Allow`,
    /// and without either the request is denied.
    pub fn decide(&self, request: &Request) -> Decision {
        let mut allowed_by = None;
        for statement in &self.statements {
            if !statement.applies_to(request) {
                continue;
            }
            match statement.effect {
                Effect::Deny => {
                    return Decision::Denied {
                        by: statement.name.clone(),
                    }
                }
                Effect::Allow => {
                    allowed_by.get_or_insert_with(|| statement.name.clone());
                }
            }
        }
        match allowed_by {
            Some(by) => Decision::Allowed { by },
            None => Decision::NotAllowed,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Hand-written cases from AWS's own pages, so the reader is checked against AWS and not
    //! only against the policies this tool prints.

    use super::matching::{glob_piece, matches, Piece};
    use super::*;

    fn policy(statements: &str) -> Policy {
        Policy::parse(&format!(
            r#"{{"Version": "2012-10-17", "Statement": {statements}}}"#
        ))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// IAM User Guide, "IAM JSON policy elements: Resource", "Using wildcards in resource ARNs":
    /// `DOC-EXAMPLE-BUCKET/*/test/*` covers every one of these objects.
    #[test]
    fn a_star_runs_across_slashes_as_the_iam_guide_shows() {
        let pieces: Vec<Piece> = "DOC-EXAMPLE-BUCKET/*/test/*"
            .chars()
            .map(glob_piece)
            .collect();
        for object in [
            "DOC-EXAMPLE-BUCKET/1/test/object.jpg",
            "DOC-EXAMPLE-BUCKET/1/2/test/object.jpg",
            "DOC-EXAMPLE-BUCKET/1/2/test/3/object.jpg",
            "DOC-EXAMPLE-BUCKET/1/2/3/test/4/object.jpg",
            "DOC-EXAMPLE-BUCKET/1///test///object.jpg",
            "DOC-EXAMPLE-BUCKET/1/test/.jpg",
            "DOC-EXAMPLE-BUCKET//test/object.jpg",
            "DOC-EXAMPLE-BUCKET/1/test/",
        ] {
            assert!(matches(&pieces, object), "{object}");
        }
        for object in [
            "DOC-EXAMPLE-BUCKET/test/object.jpg",
            "DOC-EXAMPLE-BUCKET/1/tes/object.jpg",
            "OTHER-BUCKET/1/test/object.jpg",
        ] {
            assert!(!matches(&pieces, object), "{object}");
        }
    }

    /// AWS IoT Core developer guide, "Publish/Subscribe policy examples", the wildcard table:
    /// `topic/some/?????/topic` and `topicfilter/some/sensor???/topic`; `+` and `#` are plain.
    #[test]
    fn question_marks_take_one_character_and_mqtt_wildcards_none() {
        let p = policy(
            r#"[{"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive", "iot:Subscribe"],
                "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/some/?????/topic",
                             "arn:aws:iot:us-east-1:123456789012:topicfilter/some/sensor???/topic",
                             "arn:aws:iot:us-east-1:123456789012:topicfilter/foo/+/bar"]}]"#,
        );
        assert!(p
            .decide(&Request::publish("c", "some/abcde/topic"))
            .is_allowed());
        assert!(!p
            .decide(&Request::publish("c", "some/abcd/topic"))
            .is_allowed());
        assert!(!p
            .decide(&Request::publish("c", "some/abcdef/topic"))
            .is_allowed());
        assert!(p
            .decide(&Request::subscribe("c", "some/sensor123/topic"))
            .is_allowed());
        assert!(!p
            .decide(&Request::subscribe("c", "some/sensor12/topic"))
            .is_allowed());
        // "the following policy allows a client to subscribe to the topic filter foo/+/bar
        // only": the `+` is a character, not a level.
        assert!(p.decide(&Request::subscribe("c", "foo/+/bar")).is_allowed());
        assert!(!p
            .decide(&Request::subscribe("c", "foo/baz/bar"))
            .is_allowed());
    }

    /// AWS IoT Core developer guide, "Publish/Subscribe policy examples", "Unregistered devices
    /// (9)": connect as client1 or client2, publish under `${iot:ClientId}/`, but never to
    /// `<client id>/bar`: the Deny wins.
    #[test]
    fn the_guide_deny_example_wins_over_its_allow() {
        let p = policy(
            r#"[{"Effect": "Allow", "Action": ["iot:Connect"],
                 "Resource": ["arn:aws:iot:us-east-1:123456789012:client/client1",
                              "arn:aws:iot:us-east-1:123456789012:client/client2"]},
                {"Effect": "Allow", "Action": ["iot:Publish"],
                 "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/${iot:ClientId}/*"]},
                {"Effect": "Deny", "Action": ["iot:Publish"],
                 "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/${iot:ClientId}/bar"]}]"#,
        );
        assert!(p.decide(&Request::connect("client1")).is_allowed());
        assert_eq!(p.decide(&Request::connect("client3")), Decision::NotAllowed);
        assert_eq!(
            p.decide(&Request::publish("client1", "client1/foo")),
            Decision::Allowed {
                by: "statement 2".into()
            }
        );
        assert_eq!(
            p.decide(&Request::publish("client1", "client1/bar")),
            Decision::Denied {
                by: "statement 3".into()
            }
        );
        // Another client's prefix: the variable is this client's id.
        assert!(!p
            .decide(&Request::publish("client1", "client2/foo"))
            .is_allowed());
    }

    /// IAM User Guide, "Variables and tags": `${*}`, `${?}`, `${$}` are the characters; a
    /// variable with no value makes its resource match nothing (the guide's thing-name examples
    /// on a client with no thing, as in the demo).
    #[test]
    fn escapes_are_characters_and_unknown_variables_match_nothing() {
        let p = policy(
            r#"{"Effect": "Allow", "Action": "iot:Connect",
                "Resource": ["arn:aws:iot:us-east-1:123456789012:client/a${*}b${?}${$}{x}",
                             "arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"]}"#,
        );
        assert!(p.decide(&Request::connect("a*b?${x}")).is_allowed());
        assert!(!p.decide(&Request::connect("aXbY${x}")).is_allowed());
        assert!(!p.decide(&Request::connect("my-thing")).is_allowed());
        assert!(!p
            .decide(&Request::connect("${iot:Connection.Thing.ThingName}"))
            .is_allowed());
    }

    /// IAM User Guide, "IAM JSON policy elements: Action": "`iam:ListAccessKeys` is the same as
    /// `IAM:listaccesskeys`". Resources stay case-sensitive.
    #[test]
    fn actions_ignore_case_and_resources_do_not() {
        let p = policy(
            r#"{"Effect": "Allow", "Action": ["IOT:connect", "iot:Pub*"],
                "Resource": "arn:aws:iot:*:*:*/Test"}"#,
        );
        assert!(p.decide(&Request::connect("Test")).is_allowed());
        assert!(p.decide(&Request::publish("c", "Test")).is_allowed());
        assert!(!p.decide(&Request::subscribe("c", "Test")).is_allowed());
        assert!(!p.decide(&Request::connect("test")).is_allowed());
    }

    #[test]
    fn any_region_and_account_a_resource_names_is_this_broker() {
        for arn in [
            "arn:aws:iot:eu-west-1:123456789012:",
            "arn:aws:iot:REGION:ACCOUNT_ID:",
            "arn:aws-cn:iot:cn-north-1:123456789012:",
            "arn:aws:iot:*:*:",
        ] {
            let p = policy(&format!(
                r#"{{"Effect": "Allow", "Action": "iot:Connect", "Resource": "{arn}client/x"}}"#
            ));
            assert!(p.decide(&Request::connect("x")).is_allowed(), "{arn}");
            assert!(!p.decide(&Request::connect("y")).is_allowed(), "{arn}");
        }
        let everything = policy(r#"{"Effect": "Allow", "Action": "*", "Resource": "*"}"#);
        assert!(everything
            .decide(&Request::subscribe("c", "$share/g/t"))
            .is_allowed());
        let whole_region = policy(
            r#"{"Effect": "Allow", "Action": "iot:*", "Resource": "arn:aws:iot:eu-west-1:*"}"#,
        );
        assert!(whole_region.decide(&Request::connect("c")).is_allowed());
        // Another service's resource is not an IoT resource.
        let s3 = policy(
            r#"{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:eu-west-1:123456789012:client/x"}"#,
        );
        assert!(!s3.decide(&Request::connect("x")).is_allowed());
    }

    #[test]
    fn what_aws_would_refuse_is_refused_in_one_line() {
        let refused = |text: &str, words: &str| {
            let error = Policy::parse(text).expect_err(text);
            assert!(error.contains(words), "{error}");
            assert!(!error.contains('\n'), "{error}");
        };
        refused("{", "not a JSON document");
        refused("[]", "JSON object");
        refused(r#"{"Statement": []}"#, "no Version");
        refused(
            r#"{"Version": "2008-10-17", "Statement": []}"#,
            "must say \"2012-10-17\"",
        );
        refused(r#"{"Version": "2012-10-17", "Statement": []}"#, "non-empty");
        refused(
            r#"{"Version": "2012-10-17", "Statement": [{"Effect": "allow", "Action": "*", "Resource": "*"}]}"#,
            "\"Allow\" or \"Deny\"",
        );
        refused(
            r#"{"Version": "2012-10-17", "Statement": [{"Sid": "A", "Effect": "Allow", "Action": "*"}]}"#,
            "statement 1 (\"A\") has no Resource",
        );
        refused(
            r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [], "Resource": "*"}]}"#,
            "Action must be",
        );
        refused(
            r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}}]}"#,
            "has Condition",
        );
        let big = format!(
            r#"{{"Version": "2012-10-17", "Statement": {{"Effect": "Allow", "Action": "*", "Resource": "{}"}}}}"#,
            "x".repeat(2048)
        );
        refused(&big, "at most 2048");
    }

    #[test]
    fn whitespace_does_not_count_towards_the_size() {
        assert_eq!(policy_characters("{ \"a\" :\n\t\"b c\" }"), 10);
    }
}
