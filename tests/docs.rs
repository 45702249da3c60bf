//! Every TOML example in docs/rules.md is a rule file with a test; each must load and pass its
//! test with `logtally check`, so the documentation shows what logtally does. The `explain`
//! output shown there is checked against the real output.

mod common;

use common::{logtally, root, stderr, stdout, write_file};

/// The contents of the ```toml blocks of a Markdown file.
fn toml_blocks(markdown: &str) -> Vec<String> {
    fenced_blocks(markdown, "```toml")
}

/// Returns the contents of the blocks of a Markdown file that open with `fence`.
fn fenced_blocks(markdown: &str, fence: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, opening) if opening == fence => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn rules_reference_examples_pass() {
    let markdown = std::fs::read_to_string(root().join("docs/rules.md")).unwrap();
    let blocks = toml_blocks(&markdown);
    assert_eq!(blocks.len(), 16, "examples in docs/rules.md");
    let dir = tempfile::tempdir().unwrap();
    for (index, block) in blocks.iter().enumerate() {
        assert!(
            block.contains("[[test]]"),
            "example {} has no test",
            index + 1
        );
        let path = write_file(dir.path(), &format!("example-{}.toml", index + 1), block);
        let output = logtally(&["check", path.to_str().unwrap()]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "example {}:\n{}{}",
            index + 1,
            stdout(&output),
            stderr(&output)
        );
        assert!(
            stdout(&output).ends_with(", 1 test(s): ok\n"),
            "example {}: {}",
            index + 1,
            stdout(&output)
        );
    }
}

#[test]
fn rules_reference_explain_output() {
    let markdown = std::fs::read_to_string(root().join("docs/rules.md")).unwrap();
    let derive = toml_blocks(&markdown)
        .into_iter()
        .find(|block| block.contains("[[derive]]"))
        .expect("a [[derive]] example");
    let example = fenced_blocks(&markdown, "```text")
        .into_iter()
        .find(|block| block.starts_with("$ logtally explain "))
        .expect("an explain example");
    let (command, expected) = example.split_once('\n').unwrap();
    // The command is `$ logtally explain --rules derive.toml 'LINE'`.
    let (flags, quoted) = command.split_once(" '").unwrap();
    let mut args: Vec<&str> = flags.split(' ').skip(2).collect();
    args.push(quoted.strip_suffix('\'').unwrap());
    assert_eq!(args[..3], ["explain", "--rules", "derive.toml"]);
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "derive.toml", &derive);

    let output = std::process::Command::new(common::binary())
        .args(&args)
        .current_dir(dir.path())
        .output()
        .unwrap();

    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), expected);
}
