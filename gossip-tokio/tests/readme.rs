//! README.md's code is the code that is built: its tokio example is
//! `examples/quickstart.rs` (which `cargo test` compiles) and its run loop is the visible part
//! of gossip-core's compiled run-loop example, both copied verbatim; it names the test
//! command CI runs, stays a front door (at most 200 lines), and links only to files a
//! clone has. Outside the workspace (a packaged crate) there is no README to check.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(workspace().join(path)).ok()
}

/// The lines of the first ```` ```no_run ```` block of a crate doc (`//! ` lines), without
/// the hidden (`# `) ones.
fn visible_doc_example(lib: &str) -> String {
    let doc = lib.lines().filter_map(|l| l.strip_prefix("//!")).map(|l| l.strip_prefix(' ').unwrap_or(l));
    let block = doc.skip_while(|l| !l.starts_with("```no_run")).skip(1).take_while(|l| !l.starts_with("```"));
    block.filter(|l| !(l.starts_with("# ") || *l == "#")).map(|l| format!("{l}\n")).collect()
}

#[test]
fn readme_code_is_the_compiled_code() {
    let (Some(readme), Some(quickstart), Some(core_lib)) =
        (read("README.md"), read("gossip-tokio/examples/quickstart.rs"), read("gossip-core/src/lib.rs"))
    else {
        eprintln!("no workspace around this crate: nothing to check");
        return;
    };
    let block = |code: &str| format!("```rust\n{}\n```", code.trim_end());
    assert!(readme.contains(&block(&quickstart)), "README's tokio example differs from examples/quickstart.rs");
    let run_loop = visible_doc_example(&core_lib);
    assert!(run_loop.contains("loop {"), "gossip-core's crate doc has no run loop: {run_loop}");
    assert!(readme.contains(&block(&run_loop)), "README's run loop differs from gossip-core's crate doc:\n{run_loop}");
}

#[test]
fn readme_is_a_front_door_with_the_ci_command_and_live_links() {
    let Some(readme) = read("README.md") else { return };
    let lines = readme.lines().count();
    assert!(lines <= 200, "README has {lines} lines; the rest belongs in docs/");
    assert!(readme.contains("\ncargo test --workspace\n"), "README must give the test command .ci/run runs");
    for target in readme.split("](").skip(1).filter_map(|rest| rest.split(')').next()) {
        let path = target.split('#').next().unwrap_or(target);
        if !path.contains("://") && !path.is_empty() {
            assert!(workspace().join(path).exists(), "README links to {target}, which a clone does not have");
        }
    }
}
