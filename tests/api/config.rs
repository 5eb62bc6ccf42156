//! Configuration through the binary: bad settings fail at start-up with a message that names
//! the key and the fix; `check-config` exits 0 or 1.

use std::path::PathBuf;

use crate::helpers::{SECRET, fixture};
use crate::process::run;

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Self {
        Case {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write");
        path
    }
}

const SEAM_KEY: &str = "seam_test_config_key_123";

fn hs256_config(extra: &str) -> String {
    format!(
        "[auth]\nalgorithms = [\"HS256\"]\nhs256_secret = \"{SECRET}\"\n{extra}\n[server]\nbind = \"127.0.0.1:0\"\n"
    )
}

/// Runs `check-config` and the service itself; both must fail with `expected` on stderr.
fn assert_refused(config: &std::path::Path, env: &[(&str, &str)], expected: &[&str]) {
    let config = config.to_str().expect("utf-8");
    for args in [
        vec!["--config", config, "check-config"],
        vec!["--config", config],
    ] {
        let output = run(&args, env);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        for word in expected {
            assert!(
                stderr.contains(word),
                "{args:?}: expected {word:?} in {stderr}"
            );
        }
        assert!(
            !stderr.contains(SECRET),
            "the login secret leaked: {stderr}"
        );
        assert!(!stderr.contains(SEAM_KEY), "the API key leaked: {stderr}");
    }
}

#[test]
fn a_valid_config_passes_check_config() {
    let case = Case::new();
    let config = case.file("ok.toml", &hs256_config(""));
    let output = run(
        &["--config", config.to_str().expect("utf-8"), "check-config"],
        &[("SEAM_API_KEY", SEAM_KEY)],
    );
    assert_passed(&output);
}

fn assert_passed(output: &std::process::Output) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_missing_api_key_is_refused_naming_the_key_and_the_fix() {
    let case = Case::new();
    let config = case.file("c.toml", &hs256_config(""));
    assert_refused(&config, &[], &["seam.api_key", "SEAM_API_KEY"]);
}

#[test]
fn an_unreadable_or_bad_pem_is_refused() {
    let case = Case::new();
    let missing = case.file(
        "missing.toml",
        "[auth]\nalgorithms = [\"RS256\"]\npublic_key_file = \"/nonexistent/key.pem\"\n",
    );
    assert_refused(
        &missing,
        &[("SEAM_API_KEY", SEAM_KEY)],
        &["auth.public_key_file", "cannot read"],
    );
    let garbage = case.file(
        "garbage.pem",
        "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n",
    );
    let bad = case.file(
        "bad.toml",
        &format!(
            "[auth]\nalgorithms = [\"RS256\"]\npublic_key_file = \"{}\"\n",
            garbage.display()
        ),
    );
    assert_refused(
        &bad,
        &[("SEAM_API_KEY", SEAM_KEY)],
        &["auth.public_key_file", "PEM"],
    );
    // A real key of the wrong type: an EC key for RS256.
    let wrong_type = case.file(
        "wrong.toml",
        &format!(
            "[auth]\nalgorithms = [\"RS256\"]\npublic_key_file = \"{}\"\n",
            fixture("ec_public.pem")
        ),
    );
    assert_refused(
        &wrong_type,
        &[("SEAM_API_KEY", SEAM_KEY)],
        &["auth.public_key_file", "RSA"],
    );
}

#[test]
fn unknown_keys_are_refused_by_name() {
    let case = Case::new();
    let config = case.file("c.toml", &hs256_config("audiense = \"typo\""));
    assert_refused(&config, &[("SEAM_API_KEY", SEAM_KEY)], &["audiense"]);
    let config = case.file("ok.toml", &hs256_config(""));
    assert_refused(
        &config,
        &[("SEAM_API_KEY", SEAM_KEY), ("SEAM_BFF__SESSIONS__TTL", "5")],
        &["ttl"],
    );
}

#[test]
fn weak_or_inconsistent_settings_are_refused() {
    let case = Case::new();
    let short = case.file(
        "short.toml",
        "[auth]\nalgorithms = [\"HS256\"]\nhs256_secret = \"too-short\"\n",
    );
    assert_refused(
        &short,
        &[("SEAM_API_KEY", SEAM_KEY)],
        &["auth.hs256_secret", "32 bytes"],
    );
    let windows = case.file(
        "windows.toml",
        &hs256_config("[sessions]\nttl_secs = 300\nmin_remaining_secs = 600"),
    );
    assert_refused(
        &windows,
        &[("SEAM_API_KEY", SEAM_KEY)],
        &["sessions.min_remaining_secs"],
    );
    let stale = case.file(
        "stale.toml",
        &hs256_config("[sessions]\nmin_remaining_secs = 60\nstale_min_remaining_secs = 60"),
    );
    assert_refused(
        &stale,
        &[("SEAM_API_KEY", SEAM_KEY)],
        &[
            "sessions.stale_min_remaining_secs",
            "below sessions.min_remaining_secs",
        ],
    );
    let webhook = case.file(
        "webhook.toml",
        &hs256_config("[seam]\nwebhook_secret = \"whsec_not*base64\""),
    );
    assert_refused(
        &webhook,
        &[("SEAM_API_KEY", SEAM_KEY)],
        &["seam.webhook_secret", "whsec_ followed by base64"],
    );
    let output = run(
        &["--config", webhook.to_str().expect("utf-8"), "check-config"],
        &[("SEAM_API_KEY", SEAM_KEY)],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("not*base64"),
        "the webhook secret leaked: {stderr}"
    );
    let metadata = case.file(
        "metadata.toml",
        &hs256_config("[accounts]\nsource = \"seam_metadata\""),
    );
    assert_refused(
        &metadata,
        &[("SEAM_API_KEY", SEAM_KEY)],
        &["accounts.metadata_key"],
    );
    // Seam refuses such key names in `custom_metadata_has`.
    for (name, key) in [("long", "k".repeat(41)), ("dotted", "app.user".to_owned())] {
        let file = case.file(
            &format!("metadata-{name}.toml"),
            &hs256_config(&format!(
                "[accounts]\nsource = \"seam_metadata\"\nmetadata_key = \"{key}\""
            )),
        );
        assert_refused(
            &file,
            &[("SEAM_API_KEY", SEAM_KEY)],
            &["accounts.metadata_key", "1 to 40 characters"],
        );
    }
    let one_prefix = case.file(
        "one-prefix.toml",
        &hs256_config(&format!(
            "issuer = \"https://a.test\"\n[[auth.issuers]]\nissuer = \"https://b.test\"\n\
             algorithms = [\"HS256\"]\nhs256_secret = \"{SECRET}\""
        )),
    );
    assert_refused(
        &one_prefix,
        &[("SEAM_API_KEY", SEAM_KEY)],
        &["auth.issuers[0].key_prefix", "issuers_share_users"],
    );
    let unchecked_logouts = case.file(
        "unchecked-logouts.toml",
        &hs256_config("backchannel_logout = true"),
    );
    assert_refused(
        &unchecked_logouts,
        &[("SEAM_API_KEY", SEAM_KEY)],
        &["auth.issuer", "backchannel_logout"],
    );
    let no_client_id = case.file(
        "no-client-id.toml",
        &hs256_config("backchannel_logout = true\nissuer = \"https://a.test\""),
    );
    assert_refused(
        &no_client_id,
        &[("SEAM_API_KEY", SEAM_KEY)],
        &["auth.logout_audience"],
    );
    let by_email = case.file(
        "by-email.toml",
        &(hs256_config("backchannel_logout = true\nissuer = \"https://a.test\"\naudience = \"x\"")
            + "[identity]\nclaim = \"email\"\n"),
    );
    assert_refused(
        &by_email,
        &[("SEAM_API_KEY", SEAM_KEY)],
        &["auth.backchannel_logout", "identity.claim"],
    );
    let algorithm = case.file("alg.toml", "[auth]\nalgorithms = [\"HS257\"]\n");
    assert_refused(
        &algorithm,
        &[("SEAM_API_KEY", SEAM_KEY)],
        &["auth.algorithms", "HS257"],
    );
    let missing_file = run(&["--config", "/nonexistent.toml", "check-config"], &[]);
    assert_eq!(missing_file.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing_file.stderr).contains("/nonexistent.toml"));
}

/// A broken line holding a secret, or a value of the wrong type: the error names the file, the
/// line or key, and never the value.
#[test]
fn config_errors_name_the_place_never_the_value() {
    let case = Case::new();
    let broken = case.file(
        "broken.toml",
        &format!("[seam]\napi_key = \"{SEAM_KEY}\nendpoint = \"https://x.test\"\n"),
    );
    let broken_path = broken.to_str().expect("utf-8").to_owned();
    assert_refused(&broken, &[], &["line 2", &broken_path]);
    let mistyped = case.file(
        "mistyped.toml",
        &hs256_config(&format!(
            "[management]\nbind = 8081\n[log]\nformat = \"{SEAM_KEY}\""
        )),
    );
    assert_refused(&mistyped, &[], &["log.format"]);
}

/// Fleet mode's settings are checked at start-up; neither the Redis password nor the
/// encryption key is ever printed.
#[test]
fn fleet_settings_are_checked_and_never_echoed() {
    let case = Case::new();
    let password = "redis-password-not-for-stderr";
    let key = format!("{}zz", "ab".repeat(31));
    for (name, cluster, expected) in [
        (
            "no-key.toml",
            format!("redis_url = \"redis://:{password}@127.0.0.1:6379\""),
            vec!["cluster.encryption_key", "openssl rand -hex 32"],
        ),
        (
            "bad-key.toml",
            format!(
                "redis_url = \"redis://:{password}@127.0.0.1:6379\"\nencryption_key = \"{key}\""
            ),
            vec!["cluster.encryption_key", "64 hex digits"],
        ),
        (
            "sentinel.toml",
            format!(
                "redis_url = \"redis+sentinel://:{password}@127.0.0.1:26379/primary\"\nencryption_key = \"{}\"",
                "ab".repeat(32)
            ),
            vec!["cluster.redis_url", "Sentinel"],
        ),
    ] {
        let config = case.file(name, &(hs256_config("") + "[cluster]\n" + &cluster));
        assert_refused(&config, &[("SEAM_API_KEY", SEAM_KEY)], &expected);
        let output = run(
            &["--config", config.to_str().expect("utf-8"), "check-config"],
            &[("SEAM_API_KEY", SEAM_KEY)],
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.contains(password),
            "{name}: the Redis password leaked: {stderr}"
        );
        assert!(!stderr.contains(&key), "{name}: the key leaked: {stderr}");
    }
}

/// A file with several mistakes, in several parts of the settings: `check-config` names every
/// one, each with its key and the fix, and exits 1.
#[test]
fn check_config_names_every_mistake_in_one_run() {
    let case = Case::new();
    let config = case.file(
        "c.toml",
        &format!(
            "[auth]\nalgorithms = [\"RS256\"]\npublic_key_file = \"{}\"\n\
             [server]\nbind = \"28080\"\nrequest_timeout_ms = 1000\n\
             [management]\nbind = \"127.0.0.1:99999\"\n\
             [seam]\ndeadline_ms = 5000\n",
            fixture("rsa_private.pem")
        ),
    );
    assert_refused(
        &config,
        &[("SEAM_API_KEY", SEAM_KEY)],
        &[
            "4 problems",
            "`server.bind`: must be host:port",
            "`management.bind`: must be host:port",
            "`seam.deadline_ms`: must be below server.request_timeout_ms",
            "`auth.public_key_file`",
            "holds a private key",
        ],
    );
}

/// An enum setting with a value it does not take lists the ones it does, as the config
/// writes them, from a file and from the environment.
#[test]
fn a_wrong_choice_lists_the_choices_in_config_spelling() {
    let case = Case::new();
    let from_file = case.file(
        "c.toml",
        &hs256_config("[accounts]\nsource = \"metadata\"\n"),
    );
    let from_env = case.file("e.toml", &hs256_config(""));
    for (config, env) in [
        (&from_file, vec![("SEAM_API_KEY", SEAM_KEY)]),
        (
            &from_env,
            vec![
                ("SEAM_API_KEY", SEAM_KEY),
                ("SEAM_BFF__ACCOUNTS__SOURCE", "metadata"),
            ],
        ),
    ] {
        let output = run(
            &["--config", config.to_str().expect("utf-8"), "check-config"],
            &env,
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("seam_metadata"), "{stderr}");
        assert!(
            !stderr.contains("AccountSourceKind") && !stderr.contains("SeamMetadata"),
            "{stderr}"
        );
    }
}

/// A relative key path is read from the config file's folder, wherever the service starts.
#[test]
fn relative_paths_are_read_from_the_config_files_folder() {
    let case = Case::new();
    std::fs::copy(fixture("rsa_public.pem"), case.dir.path().join("idp.pem")).expect("copy");
    let config = case.file(
        "c.toml",
        "[auth]\nalgorithms = [\"RS256\"]\npublic_key_file = \"idp.pem\"\n",
    );
    let output = std::process::Command::new(crate::process::BINARY)
        .args(["--config", config.to_str().expect("utf-8"), "check-config"])
        .env_clear()
        .env("SEAM_API_KEY", SEAM_KEY)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("runs");
    assert_passed(&output);
}

/// `SEAM_BFF_AUTH_ISSUER` (one underscore) sets nothing: said, not silently ignored. `--help`
/// names the variables, `--version` the version.
#[test]
fn misspelt_variables_are_warned_about_and_help_names_the_variables() {
    let case = Case::new();
    let config = case.file("c.toml", &hs256_config(""));
    let output = run(
        &["--config", config.to_str().expect("utf-8"), "check-config"],
        &[
            ("SEAM_API_KEY", SEAM_KEY),
            ("SEAM_BFF_AUTH_ISSUER", "https://login.example"),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("SEAM_BFF_AUTH_ISSUER is ignored")
            && stderr.contains("SEAM_BFF__AUTH__ISSUER"),
        "{stderr}"
    );
    let help = run(&["--help"], &[]);
    let help = String::from_utf8_lossy(&help.stdout);
    for named in [
        "SEAM_BFF__SECTION__KEY",
        "SEAM_API_KEY",
        "SEAM_ENDPOINT",
        "RUST_LOG",
    ] {
        assert!(help.contains(named), "{named} not in --help: {help}");
    }
    let version = run(&["--version"], &[]);
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("seam-bff {}", env!("CARGO_PKG_VERSION"))
    );
}

/// RFC 7518 §3.2: an HMAC key as long as the hash, so HS512 needs 64 bytes, not HS256's 32.
#[test]
fn an_hmac_secret_is_as_long_as_its_longest_algorithm_needs() {
    let case = Case::new();
    let config = case.file(
        "c.toml",
        &format!("[auth]\nalgorithms = [\"HS256\", \"HS512\"]\nhs256_secret = \"{SECRET}\"\n"),
    );
    assert_refused(
        &config,
        &[("SEAM_API_KEY", SEAM_KEY)],
        &["auth.hs256_secret", "shorter than 64 bytes"],
    );
}

/// What the environment says, in the forms an operator writes it: lists comma-separated,
/// choices in the config's spelling, switches and numbers as text, secrets verbatim. The other
/// tests change settings as typed values, so this is where those forms are read (in process:
/// the binary shows no settings back).
#[test]
fn the_environment_sets_lists_choices_switches_numbers_and_secrets() {
    use seam_bff::config::{AccountSourceKind, ForwardedHeader, Settings};
    use secrecy::ExposeSecret;

    let env: std::collections::HashMap<String, String> = [
        (
            "SEAM_BFF__CORS__ALLOWED_ORIGINS",
            "http://app.test,http://other.test",
        ),
        ("SEAM_BFF__SERVER__TRUSTED_PROXIES", "127.0.0.0/8"),
        ("SEAM_BFF__SERVER__FORWARDED_HEADER", "forwarded"),
        ("SEAM_BFF__ACCOUNTS__SOURCE", "seam_metadata"),
        ("SEAM_BFF__AUTH__BACKCHANNEL_LOGOUT", "true"),
        ("SEAM_BFF__SEAM__MAX_CONCURRENT_REQUESTS", "2"),
        ("SEAM_BFF__ADMIN__TOKEN", "0012345 admin token"),
        ("SEAM_BFF__CLUSTER__REDIS_URL", "redis://:pw@127.0.0.1:6379"),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect();
    let settings = Settings::load(None, &env).expect("loads");
    assert_eq!(
        settings.cors.allowed_origins,
        ["http://app.test", "http://other.test"]
    );
    assert_eq!(settings.server.trusted_proxies, ["127.0.0.0/8"]);
    assert_eq!(settings.server.forwarded_header, ForwardedHeader::Forwarded);
    assert_eq!(settings.accounts.source, AccountSourceKind::SeamMetadata);
    assert!(settings.auth.backchannel_logout);
    assert_eq!(settings.seam.max_concurrent_requests, 2);
    let admin_token = settings.admin.token.as_ref().expect("admin token");
    assert_eq!(admin_token.expose_secret(), "0012345 admin token");
    let redis_url = settings.cluster.redis_url.as_ref().expect("redis url");
    assert_eq!(redis_url.expose_secret(), "redis://:pw@127.0.0.1:6379");
}
