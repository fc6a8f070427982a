//! An operator's command line for a tool cutover drives (`nginx -c … -p …`,
//! `sudo -n /usr/sbin/haproxy`): split on blanks (no shell, no quoting), run
//! with extra arguments in the playbook's directory; a failure carries the
//! tool's own message.

use std::path::Path;

use anyhow::{bail, Context};

/// Runs `line` followed by `extra`; Ok when it exits 0.
pub async fn run(line: &str, extra: &[&str], cwd: &Path) -> anyhow::Result<()> {
    let mut words = line.split_whitespace();
    let Some(program) = words.next() else {
        bail!("the command line is empty");
    };
    let output = tokio::process::Command::new(program)
        .args(words)
        .args(extra)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("failed to start `{program}`"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let said = if stderr.trim().is_empty() {
            stdout.trim()
        } else {
            stderr.trim()
        };
        bail!(
            "`{line} {}` failed ({}): {said}",
            extra.join(" "),
            output.status
        );
    }
    Ok(())
}
