//! The real `seam-bff` binary as a child process: for what only the binary does (command
//! line, start-up failures, log output, signals).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const BINARY: &str = env!("CARGO_BIN_EXE_seam-bff");

/// Runs the binary to completion (for `check-config` and start-up failures).
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    command(args, env).output().expect("binary runs")
}

/// As `run`, off the async runtime, so that servers on this thread (the stand-in) keep serving
/// while the binary talks to them.
pub async fn run_async(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = command(args, env);
    actix_web::rt::task::spawn_blocking(move || command.output().expect("binary runs"))
        .await
        .expect("blocking task")
}

/// As `run_async`, for a start that must fail: a binary still running after `limit` is
/// killed, and the test fails rather than hangs.
pub async fn run_refused(args: &[&str], env: &[(&str, &str)], limit: Duration) -> Output {
    let child = command(args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let pid = child.id().to_string();
    let exited = actix_web::rt::task::spawn_blocking(move || child.wait_with_output());
    match tokio::time::timeout(limit, exited).await {
        Ok(output) => output.expect("blocking task").expect("binary runs"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("still running after {limit:?}: it should have refused to start");
        }
    }
}

fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    command
}

/// A running service whose stdout (the log) is collected as it is written.
pub struct Running {
    child: Child,
    pub address: String,
    pub management_address: String,
    log: Arc<Mutex<String>>,
    lines: mpsc::Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Starts the binary with `--config <config>` and waits for its "listening" log line.
    pub fn start(config: &Path, extra_args: &[&str], env: &[(&str, &str)]) -> Running {
        let config = config.to_str().expect("utf-8 path");
        let mut args = vec!["--config", config, "--log-format", "json"];
        args.extend_from_slice(extra_args);
        let mut child = command(&args, env)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let log = Arc::new(Mutex::new(String::new()));
        let (address_tx, address_rx) = mpsc::channel();
        let (line_tx, lines) = mpsc::channel();
        let sink = log.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = line_tx.send(line.clone());
                if let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line)
                    && entry["fields"]["message"] == "listening"
                {
                    let field =
                        |name: &str| entry["fields"][name].as_str().unwrap_or("").to_owned();
                    let _ = address_tx.send((field("address"), field("management_address")));
                }
                let mut log = sink.lock().expect("log lock");
                log.push_str(&line);
                log.push('\n');
            }
        });
        // Blocks until the line arrives, or fails when the process exits without it.
        let (address, management) = address_rx
            .recv()
            .expect("the service logs its addresses before serving");
        Running {
            child,
            address: format!("http://{address}"),
            management_address: format!("http://{management}"),
            log,
            lines,
            reader: Some(reader),
        }
    }

    /// Blocks until a log line contains `text` (or the log ends, which fails the test).
    pub fn wait_for_log(&self, text: &str) {
        loop {
            let line = self
                .lines
                .recv()
                .expect("the log ended before the line came");
            if line.contains(text) {
                return;
            }
        }
    }

    /// Sends SIGTERM without waiting for the exit.
    pub fn send_sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Sends SIGTERM, waits for the exit, and returns the exit status and the whole log.
    pub fn terminate(self) -> (std::process::ExitStatus, String) {
        self.send_sigterm();
        self.wait()
    }

    /// Waits for the exit; returns the exit status and the whole log.
    pub fn wait(mut self) -> (std::process::ExitStatus, String) {
        let exit = self.child.wait().expect("child exits");
        if let Some(reader) = self.reader.take() {
            reader.join().expect("reader thread");
        }
        let log = self.log.lock().expect("log lock").clone();
        (exit, log)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
