//! One ml_app rule: a literal the attributes refuse at compile time is exactly a name `init`
//! refuses, with the same explanation, and the other way round.

use llmobs::Config;
use llmobs_exporter::{validate_ml_app, ML_APP_RULE};

#[test]
fn init_refuses_a_non_ascii_ml_app_and_says_why() {
    let err = Config::default().ml_app("café").init().unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains(r#"invalid ml_app "café""#), "{shown}");
    assert!(shown.contains("'é' is not allowed"), "{shown}");
    assert!(shown.ends_with(ML_APP_RULE), "{shown}");
    assert!(!validate_ml_app("café"));
}

#[test]
fn the_compile_time_errors_quote_the_rule_init_quotes() {
    // The blessed compiler output of the attribute for the same names (tests/ui/fail).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/fail");
    for (file, name) in [
        ("ml-app-non-ascii.stderr", "café"),
        ("ml-app-uppercase.stderr", "Support-Bot"),
        ("ml-app-bad-character.stderr", "support bot"),
        ("ml-app-double-underscore.stderr", "support__bot"),
        ("ml-app-trailing-underscore.stderr", "support_bot_"),
    ] {
        let stderr = std::fs::read_to_string(dir.join(file)).unwrap();
        let at_init = Config::default()
            .ml_app(name)
            .init()
            .unwrap_err()
            .to_string();
        // The same problem and the same rule, in both messages.
        let problem_and_rule = at_init.split_once(": ").unwrap().1;
        assert!(problem_and_rule.len() > ML_APP_RULE.len() + 2, "{at_init}");
        assert!(
            stderr.contains(problem_and_rule),
            "{file}: {stderr}\nvs init: {at_init}"
        );
    }
}
