//! The README's frontend snippets are the code the browser test runs: each paragraph of each
//! `js` / `jsx` block in its Frontend section appears, line for line (indentation aside), in
//! the example frontend (`tests/demo/frontend/app.js` or `components.jsx`).

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
