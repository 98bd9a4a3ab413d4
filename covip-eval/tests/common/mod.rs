//! What the integration tests do when a resource they need is not installed.
//!
//! Outside CI such a test prints a notice and passes without checking anything; under CI
//! (the `CI` environment variable set, as CI services and `.ci/run` set it) or with
//! `COVIP_REQUIRE_METEOR=1` it fails, so that CI never passes a check it did not run.
#![allow(dead_code)]

use std::path::PathBuf;

use covip_eval::metrics::meteor::resources;

/// True when a missing resource must fail the test.
pub fn required() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
        || std::env::var("COVIP_REQUIRE_METEOR").is_ok_and(|v| v == "1")
}

/// Reports a missing resource: panics when [`required`], else prints a notice; returns `None`
/// so that the test can return early.
pub fn missing<T>(what: &str) -> Option<T> {
    if required() {
        panic!("{what}; under CI (or COVIP_REQUIRE_METEOR=1) a test that cannot run fails");
    }
    eprintln!("skipped: {what}");
    None
}

/// METEOR's resource directory as the library resolves it (`$COVIP_METEOR_DATA`, else the
/// per-user default that `covip metrics setup-meteor` fills), when it is complete.
pub fn meteor_dir() -> Option<PathBuf> {
    let dir = resources::resolve_dir(None).ok();
    match dir.as_deref() {
        Some(d) if resources::is_complete(d) => Some(d.to_path_buf()),
        _ => missing(&format!(
            "METEOR resources not found in {} (run `covip metrics setup-meteor`)",
            dir.map(|d| d.display().to_string())
                .unwrap_or_else(|| "<no default location>".into())
        )),
    }
}

/// SPICE's jar: `$COVIP_SPICE_JAR`, else the one `covip metrics setup-meteor` installs beside
/// METEOR's resources.
pub fn spice_jar() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("COVIP_SPICE_JAR").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Some(p)
        } else {
            missing(&format!(
                "no SPICE jar at {} ($COVIP_SPICE_JAR)",
                p.display()
            ))
        };
    }
    let dir = resources::resolve_dir(None).ok();
    match dir.as_deref().and_then(resources::spice_jar) {
        Some(j) => Some(j),
        None => missing(&format!(
            "no SPICE jar in {} (run `covip metrics setup-meteor`, which installs pycocoevalcap's, or set COVIP_SPICE_JAR)",
            dir.map(|d| d.join(resources::SPICE_JAR).display().to_string())
                .unwrap_or_else(|| "<no default location>".into())
        )),
    }
}

/// True when `java -version` runs; otherwise reports it missing.
pub fn java() -> Option<()> {
    match std::process::Command::new("java").arg("-version").output() {
        Ok(o) if o.status.success() => Some(()),
        _ => {
            missing("no working `java` on PATH (install a Java runtime, e.g. default-jre-headless)")
        }
    }
}
