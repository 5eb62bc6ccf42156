//! A server process started by the benchmark and the soak test: the settings they share, its
//! logged addresses (in either log format), its resident memory, and its end when dropped
//! (also when the run fails half-way).

use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// A server process, ended when dropped (also when the run fails half-way).
pub struct Server(Option<Child>);

impl Server {
    pub fn pid(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn stop(mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.0.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        child.wait().ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

/// Starts a server process and returns it with the addresses it logs (public, management).
pub fn start(mut command: Command) -> (Server, String, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut log = std::io::BufReader::new(stdout);
    let mut line = String::new();
    let (address, management) = loop {
        line.clear();
        let read = std::io::BufRead::read_line(&mut log, &mut line).expect("the server's log");
        assert!(read > 0, "the server stopped before it logged its address");
        if let Some(addresses) = listening(&line) {
            break addresses;
        }
    };
    // The rest is read as a log collector would, in bulk, so that reading costs the machine
    // little beside the servers.
    std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
    (Server(Some(child)), address, management)
}

/// The addresses in the "listening" line, as JSON (`--log-format json`) or as the default text
/// (`… INFO seam_bff: listening address=127.0.0.1:1234 management_address=127.0.0.1:5678`).
fn listening(line: &str) -> Option<(String, String)> {
    if let Ok(entry) = serde_json::from_str::<Value>(line) {
        let field = |name: &str| entry["fields"][name].as_str().unwrap_or("").to_owned();
        return (entry["fields"]["message"] == "listening")
            .then(|| (field("address"), field("management_address")));
    }
    let (_, fields) = line.split_once(": listening ")?;
    let field = |name: &str| {
        fields
            .split_whitespace()
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_owned)
    };
    Some((field("address")?, field("management_address")?))
}

/// The process's resident memory, from /proc.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The settings both runs share: both listeners on loopback port 0, JSON logs (the addresses
/// are read from them), no rate limits (one client address drives all the load), and the
/// stand-in Seam. `seam_extra` adds keys to the `[seam]` table; `rest` follows it.
pub fn config(seam: &seam_stand_in::StandIn, seam_extra: &str, rest: &str) -> String {
    format!(
        r#"
[server]
bind = "127.0.0.1:0"
[management]
bind = "127.0.0.1:0"
[log]
format = "json"
[rate_limit]
enabled = false
[seam]
endpoint = "{endpoint}"
api_key = "{key}"
{seam_extra}
{rest}"#,
        endpoint = seam.url(),
        key = seam.api_key(),
    )
}
