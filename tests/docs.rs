//! What the README shows is what runs: each paragraph of each `js` / `jsx` block in its
//! Frontend section appears, line for line (indentation aside), in the example frontend
//! (`tests/demo/frontend/app.js` or `components.jsx`), and its production configuration passes
//! `check-config`.

use std::fs;

fn trimmed(text: &str) -> Vec<&str> {
    text.lines().map(str::trim).collect()
}

fn contains_run(haystack: &[&str], run: &[&str]) -> bool {
    haystack.windows(run.len()).any(|window| window == run)
}

#[test]
fn the_readmes_frontend_snippets_are_the_example_frontends_code() {
    let readme = fs::read_to_string("README.md").expect("README.md");
    let start = readme.find("\n## Frontend\n").expect("a Frontend section");
    let section = &readme[start + 1..];
    let section = &section[..section[3..]
        .find("\n## ")
        .map_or(section.len(), |end| end + 3)];
    let sources: Vec<String> = ["app.js", "components.jsx"]
        .iter()
        .map(|file| fs::read_to_string(format!("tests/demo/frontend/{file}")).expect(file))
        .collect();
    let sources: Vec<Vec<&str>> = sources.iter().map(|s| trimmed(s)).collect();

    let mut blocks = 0;
    let mut rest = section;
    while let Some(open) = rest.find("```js") {
        let body = &rest[open..];
        let body = &body[body.find('\n').expect("a fenced block") + 1..];
        let end = body.find("```").expect("a closed block");
        blocks += 1;
        for paragraph in body[..end].split("\n\n").filter(|p| !p.trim().is_empty()) {
            let run = trimmed(paragraph.trim_matches('\n'));
            assert!(
                sources.iter().any(|source| contains_run(source, &run)),
                "a README snippet is not in tests/demo/frontend/:\n{paragraph}"
            );
        }
        rest = &body[end + 3..];
    }
    assert!(
        blocks >= 5,
        "found {blocks} snippets; the Frontend section has more"
    );
}

/// The README's production configuration passes `check-config`: the block is run as written,
/// with each `/run/secrets/…` file it names made up in a temporary folder.
#[test]
fn the_readmes_production_config_passes_check_config() {
    let readme = fs::read_to_string("README.md").expect("README.md");
    let section = &readme[readme
        .find("### Production configuration")
        .expect("a Production configuration section")..];
    let block = &section[section.find("```toml\n").expect("a toml block") + 8..];
    let block = &block[..block.find("```").expect("a closed block")];
    let dir = tempfile::tempdir().expect("temp dir");
    let secrets = dir.path().to_str().expect("utf-8");
    let config = block.replace("/run/secrets", secrets);
    let secret = |file: &str, value: &str| {
        let path = dir.path().join(file);
        fs::create_dir_all(path.parent().expect("a folder")).expect("folder");
        fs::write(path, value).expect("write");
    };
    secret("seam/api-key", "seam_live_0123456789abcdef");
    secret("seam-bff/key-hmac", &"k".repeat(48));
    secret("seam-bff/admin-token", &"a".repeat(48));
    secret(
        "seam-bff/redis-url",
        "rediss://seam-bff:password@redis.internal:6380/0",
    );
    secret("seam-bff/cluster-key", &"ab".repeat(32));
    let path = dir.path().join("seam-bff.toml");
    fs::write(&path, config).expect("write");
    let checked = std::process::Command::new(env!("CARGO_BIN_EXE_seam-bff"))
        .args(["--config", path.to_str().expect("utf-8"), "check-config"])
        .env_clear()
        .output()
        .expect("runs");
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}
