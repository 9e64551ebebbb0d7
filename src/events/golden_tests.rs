//! The `data` the parser produces for every webhook fixture, compared byte for byte with
//! `tests/fixtures/parsed-data.tsv`, recorded from the Map-based parser before `data` became
//! typed (issue 13 item 3). `UPDATE_PARSED_DATA=1 cargo test --lib golden` records it again;
//! only do that for an intended change of the delivered JSON.

use crate::events::parse::parse_webhook;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/meta/");
const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/parsed-data.tsv"
);

/// The webhook fixtures (the same filter as the parser's tests).
fn webhook_fixtures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(FIXTURES)
        .expect("fixtures dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            (["wa-", "ig-", "messenger-"]
                .iter()
                .any(|p| name.starts_with(p))
                || name == "leadgen.json")
                && name.ends_with(".json")
                && !name.ends_with("-response.json")
                && name != "wa-media-metadata.json"
        })
        .collect();
    names.sort();
    names
}

/// One line per event: `<fixture>\t<index>\t<type>\t<data as serialised for the store>`.
fn current() -> String {
    let mut out = String::new();
    for name in webhook_fixtures() {
        let body = std::fs::read(format!("{FIXTURES}{name}")).expect("read fixture");
        let events = parse_webhook(&body).expect("fixture parses");
        for (i, ev) in events.iter().enumerate() {
            // The sorted writer and serde_json's sorted map agree.
            let via_value = ev.data.to_value().expect("data serialises").to_string();
            assert_eq!(
                ev.data_json().expect("data serialises"),
                via_value,
                "{name}[{i}]"
            );
            out.push_str(&format!(
                "{name}\t{i}\t{}\t{}\n",
                ev.event_type(),
                ev.data_json().expect("data serialises")
            ));
        }
    }
    out
}

#[test]
fn golden_parsed_data_of_every_fixture_is_unchanged() {
    let now = current();
    if std::env::var_os("UPDATE_PARSED_DATA").is_some() {
        std::fs::write(GOLDEN, &now).expect("write golden");
    }
    let recorded = std::fs::read_to_string(GOLDEN).expect("tests/fixtures/parsed-data.tsv");
    assert!(
        now.lines().count() >= 41,
        "too few events: {}",
        now.lines().count()
    );
    for (line, (a, b)) in recorded.lines().zip(now.lines()).enumerate() {
        assert_eq!(
            b,
            a,
            "line {} differs (left: now, right: recorded)",
            line + 1
        );
    }
    assert_eq!(
        now.lines().count(),
        recorded.lines().count(),
        "event count differs"
    );
}
