//! Compose files as `docker-compose` 1.29 resolves them.

use std::process::Command;

use serde_yaml::Value;

use super::{repo_file, require_program};

/// `files` (`-f` each, in order) resolved by `docker-compose config`, in an
/// environment without the variables they read, except `ADMIN_TOKEN` =
/// `admin_token`.
pub fn resolved(files: &[&str], admin_token: Option<&str>) -> Value {
    require_program("docker-compose", "docker-compose");
    let mut command = Command::new("docker-compose");
    for file in files {
        command.args(["-f", file]);
    }
    command.arg("config").current_dir(repo_file(""));
    for variable in ["ADMIN_TOKEN", "SUNAT_URL", "SCRAPER_SESSIONS", "SCRAPER_MODE"] {
        command.env_remove(variable);
    }
    if let Some(token) = admin_token {
        command.env("ADMIN_TOKEN", token);
    }
    let output = command.output().expect("docker-compose runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_yaml::from_slice(&output.stdout).expect("YAML")
}
