//! Meta's error codes and what the bridge does about each: the one table of them.
//!
//! [`RULES`] is the only place a Graph error code is given a meaning; [`classify`] and
//! [`reason`] read it, and `docs/meta-errors.md` is generated from it ([`markdown`]; a test fails
//! when the file drifts — regenerate with `UPDATE_DOCS=1 cargo test --lib meta::errors`).
//!
//! Every row names the Meta page it was taken from ([`Source`]), read on 2026-12-02 with the
//! project's search tool. Decisions are made on `code` (and `error_subcode` where Meta gives one a
//! meaning), never on message texts, as Meta's WhatsApp error page recommends.
//!
//! Two rules matter more than the rest, because getting them wrong hurts users:
//! - a permission error (codes 10, 200–299, 131005) is about *this* call — on Messenger and
//!   Instagram `(#200)` is often about one recipient ("This person isn't receiving messages from
//!   you right now") — so it fails the message and asks for a token check; it never deletes the
//!   token by itself;
//! - an invalid-token answer (190, 102, 0) only *suspects* the token: the token is condemned
//!   (deleted, sends `token_invalid`) only when `debug_token` says it is invalid or a permission
//!   the channel needs is gone.

use std::fmt;
use std::fmt::Write as _;

/// What to do about a Graph error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Meta refused the token (190, 102, 0): the message waits and is retried, and the channel's
    /// token is checked with `debug_token` at once. Never deletes the token by itself.
    TokenSuspect,
    /// Permission denied for this call (10, 200–299, 131005): fail the message with Meta's code;
    /// check the token's permissions (the check may condemn it, this answer alone never does).
    Permission,
    /// Outside the customer-service / messaging window: do not retry as is (send a template,
    /// or wait for the person to write).
    WindowClosed,
    /// Pair rate limit: retry only this recipient later (backoff 4^n s), keep sending to others.
    RetryPair,
    /// Transient or rate limited: retry with backoff.
    Retry,
    /// "Something went wrong": retry at most 3 times, then fail.
    RetryLimited,
    /// Account or number state (spam limit, restriction, lock): pause the channel's *sends*
    /// (inbound keeps flowing) with a reason and a time to try again.
    PauseSends,
    /// Do not retry: fail the message and tell the instance. Also every unknown code.
    Permanent,
}

impl ErrorClass {
    /// Every class, in the order the generated document lists them.
    pub const ALL: [ErrorClass; 8] = [
        ErrorClass::TokenSuspect,
        ErrorClass::Permission,
        ErrorClass::WindowClosed,
        ErrorClass::RetryPair,
        ErrorClass::Retry,
        ErrorClass::RetryLimited,
        ErrorClass::PauseSends,
        ErrorClass::Permanent,
    ];

    /// A stable snake_case name (metrics labels, logs).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::TokenSuspect => "token_suspect",
            ErrorClass::Permission => "permission",
            ErrorClass::WindowClosed => "window_closed",
            ErrorClass::RetryPair => "retry_pair",
            ErrorClass::Retry => "retry",
            ErrorClass::RetryLimited => "retry_limited",
            ErrorClass::PauseSends => "pause_sends",
            ErrorClass::Permanent => "permanent",
        }
    }

    /// Whether the same request may be sent again later.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorClass::Retry | ErrorClass::RetryPair | ErrorClass::RetryLimited
        )
    }

    /// Whether the answer is a reason to check the channel's token with `debug_token`.
    pub fn wants_token_check(self) -> bool {
        matches!(self, ErrorClass::TokenSuspect | ErrorClass::Permission)
    }

    /// What the bridge does, in a sentence (the generated document's last column).
    pub fn action(self) -> &'static str {
        match self {
            ErrorClass::TokenSuspect => {
                "The message waits and is retried; the token is checked with `debug_token` at once and is deleted (sends `token_invalid`) only if Meta says it is invalid or a needed permission is gone."
            }
            ErrorClass::Permission => {
                "The message fails with Meta's code and reason (it may concern this recipient only); the token's permissions are checked with `debug_token`; the token is kept unless that check condemns it."
            }
            ErrorClass::WindowClosed => {
                "The message fails (do not resend as is: send a template, or wait for the person to write)."
            }
            ErrorClass::RetryPair => {
                "Retried later for this recipient only (4^n s backoff); other recipients keep being served."
            }
            ErrorClass::Retry => {
                "Retried with backoff (Meta's regain time honoured); the channel's sender slows down meanwhile."
            }
            ErrorClass::RetryLimited => "Retried at most 3 times, then the message fails.",
            ErrorClass::PauseSends => {
                "The message waits; the channel's sends pause (reason and until-time, `channel.updated`) and resume on a timer with backoff or by API; inbound relay goes on."
            }
            ErrorClass::Permanent => {
                "The message fails with Meta's code and reason; never retried."
            }
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The page a rule was taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Graph API, "Handling Errors".
    GraphErrors,
    /// WhatsApp Business Platform, "WhatsApp error codes" (updated Jun 18, 2026).
    WhatsAppErrors,
    /// Messenger Platform, "Send API error codes" and "Common Error Codes" (updated Mar 18, 2026).
    MessengerErrors,
    /// Not found on Meta's pages by search on 2026-12-02: taken from the project's corrections
    /// note (issue 12) and integrators' reports; to be confirmed against a real answer.
    Unconfirmed,
}

impl Source {
    pub fn title(self) -> &'static str {
        match self {
            Source::GraphErrors => "Graph API — Handling Errors",
            Source::WhatsAppErrors => "WhatsApp Business Platform — WhatsApp error codes",
            Source::MessengerErrors => {
                "Messenger Platform — Send API error codes / Common Error Codes"
            }
            Source::Unconfirmed => "not on Meta's pages (integrators' reports)",
        }
    }

    pub fn url(self) -> &'static str {
        match self {
            Source::GraphErrors => {
                "https://developers.facebook.com/docs/graph-api/guides/error-handling"
            }
            Source::WhatsAppErrors => {
                "https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/"
            }
            Source::MessengerErrors => {
                "https://developers.facebook.com/docs/messenger-platform/reference/send-api/error-codes"
            }
            Source::Unconfirmed => "",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Source::GraphErrors => "Graph",
            Source::WhatsAppErrors => "WhatsApp",
            Source::MessengerErrors => "Messenger",
            Source::Unconfirmed => "unconfirmed",
        }
    }
}

/// One row of the table: a code range (and optionally one subcode), its class and meaning.
#[derive(Debug, Clone, Copy)]
pub struct ErrorRule {
    /// First and last code covered (inclusive).
    pub codes: (i64, i64),
    /// A rule with a subcode applies only to that subcode and wins over the code's own rule.
    pub subcode: Option<i64>,
    pub class: ErrorClass,
    /// A short readable English meaning, shown to instances when Meta gives no details.
    pub meaning: &'static str,
    pub source: Source,
}

const fn rule(code: i64, class: ErrorClass, meaning: &'static str, source: Source) -> ErrorRule {
    ErrorRule {
        codes: (code, code),
        subcode: None,
        class,
        meaning,
        source,
    }
}

const fn sub(
    code: i64,
    subcode: i64,
    class: ErrorClass,
    meaning: &'static str,
    source: Source,
) -> ErrorRule {
    ErrorRule {
        codes: (code, code),
        subcode: Some(subcode),
        class,
        meaning,
        source,
    }
}

use ErrorClass::*;
use Source::*;

/// Every Graph error code the bridge gives a meaning to. Unknown codes are [`Permanent`].
#[rustfmt::skip]
pub const RULES: &[ErrorRule] = &[
    // Graph-wide codes.
    rule(0, TokenSuspect, "Meta could not authenticate the access token.", WhatsAppErrors),
    rule(1, RetryLimited, "Unknown Graph API error (possibly a Meta outage).", GraphErrors),
    rule(2, Retry, "Graph API temporarily unavailable.", GraphErrors),
    rule(3, Permanent, "The app lacks the capability or permission for this call (configuration).", GraphErrors),
    rule(4, Retry, "App-level rate limit reached; slow down.", GraphErrors),
    sub(10, 2_018_278, WindowClosed, "Outside the Messenger messaging window; wait for the person to write again (or use a message tag).", MessengerErrors),
    sub(10, 2_534_022, WindowClosed, "Outside the Instagram messaging window; wait for the person to write again.", MessengerErrors),
    sub(10, 1_893_063, PauseSends, "The Page is temporarily restricted from sending messages.", Unconfirmed),
    rule(10, Permission, "Permission denied for this call (not granted, removed, or not allowed for this recipient).", GraphErrors),
    rule(17, Retry, "User-level rate limit reached; slow down.", GraphErrors),
    rule(32, Retry, "Page-level rate limit reached; slow down.", GraphErrors),
    rule(100, Permanent, "Invalid parameter in the request.", GraphErrors),
    rule(102, TokenSuspect, "API session invalid; the token is being checked.", GraphErrors),
    rule(190, TokenSuspect, "Meta refused the access token (expired, revoked or invalid); the token is being checked.", GraphErrors),
    ErrorRule {
        codes: (200, 299),
        subcode: None,
        class: Permission,
        meaning: "Permission error for this call; on Messenger and Instagram often about this recipient (\"This person isn't receiving messages from you right now\").",
        source: GraphErrors,
    },
    rule(341, Retry, "Application limit reached; back off.", GraphErrors),
    rule(368, PauseSends, "Temporarily blocked for policy violations.", GraphErrors),
    rule(551, Permanent, "This person is not available to receive messages right now.", MessengerErrors),
    rule(613, Retry, "Calls to this API have exceeded the rate limit.", MessengerErrors),
    rule(1200, Retry, "Temporary send message failure; try again later.", MessengerErrors),
    // WhatsApp Cloud API codes.
    rule(80_007, Retry, "WhatsApp Business Account rate limit reached.", WhatsAppErrors),
    rule(130_429, Retry, "Throughput limit of this business phone number reached; slow down.", WhatsAppErrors),
    rule(130_472, Permanent, "The recipient's number is part of a Meta experiment; message not sent.", WhatsAppErrors),
    rule(130_497, Permanent, "The business may not message users in this country.", WhatsAppErrors),
    rule(131_000, RetryLimited, "Something went wrong at Meta.", WhatsAppErrors),
    rule(131_005, Permission, "Access denied; the token lacks a permission for this call.", WhatsAppErrors),
    rule(131_008, Permanent, "A required parameter is missing.", WhatsAppErrors),
    rule(131_009, Permanent, "A parameter value is invalid.", WhatsAppErrors),
    rule(131_016, Retry, "WhatsApp service temporarily unavailable.", WhatsAppErrors),
    rule(131_021, Permanent, "Recipient is the sending business number itself.", WhatsAppErrors),
    rule(131_026, Permanent, "Message undeliverable (recipient not on WhatsApp, old app, terms not accepted, or blocked).", WhatsAppErrors),
    rule(131_031, PauseSends, "The WhatsApp Business Account is restricted or locked.", WhatsAppErrors),
    rule(131_037, PauseSends, "The display name of the number is not approved.", WhatsAppErrors),
    rule(131_042, PauseSends, "Payment or eligibility problem on the business account.", WhatsAppErrors),
    rule(131_045, PauseSends, "Phone number registration certificate is incorrect; register again.", WhatsAppErrors),
    rule(131_047, WindowClosed, "More than 24 hours since the customer last wrote; send a template.", WhatsAppErrors),
    rule(131_048, PauseSends, "Spam rate limit hit: too many messages were blocked or flagged; sends are paused.", WhatsAppErrors),
    rule(131_049, Permanent, "Marketing message withheld by Meta to protect user engagement.", WhatsAppErrors),
    rule(131_050, Permanent, "The user stopped marketing messages from this business.", WhatsAppErrors),
    rule(131_051, Permanent, "Unsupported message type.", WhatsAppErrors),
    rule(131_052, Permanent, "Meta could not download the customer's media; ask them to resend.", WhatsAppErrors),
    rule(131_053, Permanent, "Meta could not process the media sent (upload or link failed).", WhatsAppErrors),
    rule(131_056, RetryPair, "Too many messages to this recipient in a short time; retry later.", WhatsAppErrors),
    rule(131_057, Retry, "Business account in maintenance (throughput upgrade); retry in a minute.", WhatsAppErrors),
    rule(131_062, Permanent, "This message type cannot be sent to a business-scoped user id; use the phone number.", Unconfirmed),
    rule(132_000, Permanent, "Template parameter count does not match the template.", WhatsAppErrors),
    rule(132_001, Permanent, "Template does not exist or is not approved in this language.", WhatsAppErrors),
    rule(132_005, Permanent, "Template text too long after filling in the parameters.", WhatsAppErrors),
    rule(132_007, Permanent, "Template content violates the format or character policy.", WhatsAppErrors),
    rule(132_008, Permanent, "A template parameter has the wrong format.", WhatsAppErrors),
    rule(132_012, Permanent, "A template parameter has the wrong format.", WhatsAppErrors),
    rule(132_015, Permanent, "Template paused for low quality; use another template.", WhatsAppErrors),
    rule(132_016, Permanent, "Template disabled permanently; use another template.", WhatsAppErrors),
    rule(132_068, Permanent, "The flow is blocked.", WhatsAppErrors),
    rule(132_069, Retry, "The flow is throttled; retry later.", WhatsAppErrors),
    rule(133_000, PauseSends, "Previous deregistration incomplete; deregister the number again.", WhatsAppErrors),
    rule(133_004, Retry, "Registration server temporarily unavailable.", WhatsAppErrors),
    rule(133_005, Permanent, "Two-step verification PIN mismatch.", WhatsAppErrors),
    rule(133_006, PauseSends, "The phone number must be verified again.", WhatsAppErrors),
    rule(133_008, Permanent, "Too many two-step verification PIN guesses; wait before trying again.", WhatsAppErrors),
    rule(133_009, Permanent, "Two-step verification PIN guessed too fast; wait before trying again.", WhatsAppErrors),
    rule(133_010, PauseSends, "The phone number is not registered on the Cloud API.", WhatsAppErrors),
    rule(133_015, Retry, "Wait a few minutes before registering this number again.", WhatsAppErrors),
    rule(133_016, Retry, "Registration rate limit reached for this number; retry in hours.", WhatsAppErrors),
    rule(135_000, Permanent, "Generic user error reported by WhatsApp.", WhatsAppErrors),
    rule(137_000, Permanent, "The recipient's identity key changed; verify the customer and resend.", Unconfirmed),
];

/// The meaning of codes the table does not know.
pub const UNKNOWN_MEANING: &str = "Unrecognised Graph API error.";

/// The rule for a code and subcode: the rule naming that subcode, else the code's own rule.
pub fn rule_for(code: i64, subcode: Option<i64>) -> Option<&'static ErrorRule> {
    let covers = |r: &&ErrorRule| r.codes.0 <= code && code <= r.codes.1;
    subcode
        .and_then(|s| RULES.iter().filter(covers).find(|r| r.subcode == Some(s)))
        .or_else(|| RULES.iter().filter(covers).find(|r| r.subcode.is_none()))
}

/// What to do about a Graph error code (+ subcode). Unknown codes are [`ErrorClass::Permanent`]
/// (fail the message, never loop).
pub fn classify(code: i64, subcode: Option<i64>) -> ErrorClass {
    rule_for(code, subcode).map_or(ErrorClass::Permanent, |r| r.class)
}

/// A short readable English reason for a code (and subcode), generic for unknown codes.
pub fn reason(code: i64, subcode: Option<i64>) -> &'static str {
    rule_for(code, subcode).map_or(UNKNOWN_MEANING, |r| r.meaning)
}

/// `docs/meta-errors.md`, generated from [`RULES`].
pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str(
        "# Meta error codes and what metabridge does\n\n\
         Generated from `src/meta/errors.rs` (`RULES`); do not edit by hand. Regenerate with\n\
         `UPDATE_DOCS=1 cargo test --lib meta::errors`; a test fails when this file drifts.\n\n\
         Decisions use Meta's `code` and, where a row names one, `error_subcode`; message texts are\n\
         never matched. A code missing from the table fails the message (never retried in a loop).\n\
         Pages read on 2026-12-02.\n\n\
         | code | subcode | meaning | what the bridge does | source |\n\
         | --- | --- | --- | --- | --- |\n",
    );
    for r in RULES {
        let code = if r.codes.0 == r.codes.1 {
            r.codes.0.to_string()
        } else {
            format!("{}–{}", r.codes.0, r.codes.1)
        };
        let subcode = r.subcode.map_or(String::new(), |s| s.to_string());
        let _ = writeln!(
            out,
            "| {code} | {subcode} | {} | `{}`: {} | {} |",
            r.meaning.replace('|', "\\|"),
            r.class,
            r.class.action(),
            r.source.label()
        );
    }
    out.push_str("\n## Sources\n\n");
    for s in [GraphErrors, WhatsAppErrors, MessengerErrors] {
        let _ = writeln!(out, "- {}: {} — {}", s.label(), s.title(), s.url());
    }
    let _ = writeln!(
        out,
        "- unconfirmed: rows not found on Meta's pages by search on 2026-12-02 (10/1893063 from \
         the project's corrections note; 131062 and 137000 from integrators' references); kept \
         with the class the reports give, to be confirmed against a real answer."
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected classes, written from the pages (not computed from `RULES`): what production
    /// Meta's answers require of the bridge.
    const EXPECTED: &[(i64, Option<i64>, ErrorClass)] = &[
        // A dead-looking token is only suspected until debug_token says so.
        (190, None, TokenSuspect),
        (190, Some(463), TokenSuspect),
        (190, Some(460), TokenSuspect),
        (102, None, TokenSuspect),
        (0, None, TokenSuspect),
        // Permission errors fail the message, never the token.
        (200, None, Permission),
        (200, Some(2_018_028), Permission),
        (200, Some(2_018_108), Permission),
        (230, None, Permission),
        (299, None, Permission),
        (10, None, Permission),
        (10, Some(2_018_108), Permission),
        (131_005, None, Permission),
        // Windows.
        (10, Some(2_018_278), WindowClosed),
        (10, Some(2_534_022), WindowClosed),
        (131_047, None, WindowClosed),
        // Messenger: 1200 is a temporary failure; 10/1893063 restricts the Page's sends.
        (1200, None, Retry),
        (10, Some(1_893_063), PauseSends),
        // WhatsApp: spam rate limit pauses sends with a timer; pair limit per recipient.
        (131_048, None, PauseSends),
        (131_056, None, RetryPair),
        (130_429, None, Retry),
        (131_000, None, RetryLimited),
        (1, None, RetryLimited),
        (368, None, PauseSends),
        (131_031, None, PauseSends),
        (100, None, Permanent),
        (551, Some(1_545_041), Permanent),
        (131_026, None, Permanent),
        (132_001, None, Permanent),
        (133_005, None, Permanent),
    ];

    #[test]
    fn documented_codes_get_the_documented_treatment() {
        for &(code, subcode, want) in EXPECTED {
            assert_eq!(
                classify(code, subcode),
                want,
                "code {code} subcode {subcode:?}"
            );
        }
        for code in 200..=299 {
            assert_eq!(classify(code, None), Permission, "{code}");
        }
    }

    #[test]
    fn unknown_codes_fail_and_never_loop() {
        for code in [-1, 5, 199, 300, 999, 131_001, 999_999] {
            assert_eq!(classify(code, None), Permanent, "{code}");
            assert_eq!(reason(code, None), UNKNOWN_MEANING);
        }
        // A subcode only matters where a row names it.
        assert_eq!(classify(131_047, Some(2_018_278)), WindowClosed);
        assert_eq!(classify(100, Some(2_534_022)), Permanent);
        assert_eq!(classify(190, Some(2_534_022)), TokenSuspect);
    }

    #[test]
    fn no_code_is_claimed_twice() {
        for (i, a) in RULES.iter().enumerate() {
            assert!(a.codes.0 <= a.codes.1, "{a:?}");
            assert!(!a.meaning.is_empty());
            for b in &RULES[i + 1..] {
                let overlap = a.codes.0 <= b.codes.1 && b.codes.0 <= a.codes.1;
                assert!(
                    !(overlap && a.subcode == b.subcode),
                    "two rules for the same code: {a:?} / {b:?}"
                );
            }
        }
        assert!(!TokenSuspect.is_retryable() && !Permission.is_retryable());
        assert!(TokenSuspect.wants_token_check() && Permission.wants_token_check());
        assert!(!PauseSends.wants_token_check());
    }

    #[test]
    fn meta_errors_doc_matches_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/meta-errors.md");
        let want = markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(path, &want).expect("write docs/meta-errors.md");
            return;
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/meta-errors.md is out of date with src/meta/errors.rs: run \
             `UPDATE_DOCS=1 cargo test --lib meta::errors` and commit the file"
        );
        // Every class is explained and every documented row appears in the file.
        for class in ErrorClass::ALL {
            assert!(have.contains(class.action()), "{class}");
        }
        assert!(have.contains("| 131048 |") && have.contains("| 200–299 |"));
    }
}
