//! Puts the git commit this binary is built from into `--version` (`MQTT5_GIT_COMMIT`).
//!
//! A bug report that says "0.1.0" says little while the code changes daily; the commit says
//! exactly which code ran. Outside a git checkout (a source tarball, a vendored copy) or without
//! git installed, the commit is "unknown" and the build goes on.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=MQTT5_GIT_COMMIT={commit}");
    // Build again when HEAD moves: a commit or a checkout changes HEAD or the branch it names
    // (in a worktree these live in different directories; git says where), or packs its refs.
    println!("cargo:rerun-if-changed=build.rs");
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    for name in ["HEAD", "packed-refs"].into_iter().chain(branch.as_deref()) {
        // Only files that exist: cargo runs this again on every build for a missing one.
        let file = git(&["rev-parse", "--git-path", name]).map(PathBuf::from);
        if let Some(file) = file.filter(|file| file.is_file()) {
            println!("cargo:rerun-if-changed={}", file.display());
        }
    }
}

/// One line of git's output, or `None` when git is missing or says no.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let line = text.trim();
    (output.status.success() && !line.is_empty()).then(|| line.to_owned())
}
