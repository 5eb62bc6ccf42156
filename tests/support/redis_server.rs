//! A real `redis-server` (Debian's) on a loopback port, for the fleet-mode tests and the
//! benchmark's fleet scenario: installed when missing (apt-get, as root, as `tests/browser/run` installs Chromium), started empty with
//! nothing saved to disk, and stopped or started again on the same port when a test says so.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    /// `redis-server` options beyond the defaults (e.g. `--requirepass`).
    options: Vec<String>,
    /// With TLS: the directory holding the test CA and the server's certificate.
    tls: Option<tempfile::TempDir>,
}

/// Debian's package, installed once per test process when the machine lacks it.
fn ensure_installed() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        if Command::new("redis-server").arg("--version").output().is_ok() {
            return;
        }
        let install = || {
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "redis-server"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .is_ok_and(|s| s.success())
        };
        let installed = install()
            || (Command::new("apt-get").args(["update", "-qq"]).status().is_ok() && install());
        assert!(
            installed,
            "the fleet tests need Debian's redis-server: run as root, or `apt-get install redis-server`"
        );
    });
}

/// A free loopback port, released for the server to take.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl RedisServer {
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    pub fn start_with(options: &[&str]) -> RedisServer {
        ensure_installed();
        let mut server = RedisServer {
            port: free_port(),
            child: None,
            options: options.iter().map(|o| (*o).to_owned()).collect(),
            tls: None,
        };
        server.start_again();
        server
    }

    /// A server that speaks only TLS, with a certificate for 127.0.0.1 from a test CA made
    /// for it (openssl): `ca_file` is what a client must trust.
    pub fn start_tls() -> RedisServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = |name: &str| dir.path().join(name).display().to_string();
        let openssl = |args: &[&str]| {
            let status = Command::new("openssl")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("openssl runs");
            assert!(status.success(), "openssl {args:?}");
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let (ca, ca_key, key, csr, cert) = (
            path("ca.pem"),
            path("ca.key"),
            path("server.key"),
            path("server.csr"),
            path("server.pem"),
        );
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    &ca_key,
                    "-out",
                    &ca,
                    "-days",
                    "1",
                    "-subj",
                    "/CN=seam-bff test CA",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign",
                ],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &ec,
                &["-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"],
            ]
            .concat(),
        );
        let extensions = path("server.ext");
        std::fs::write(
            &extensions,
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("writes");
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "1",
            "-extfile",
            &extensions,
        ]);
        ensure_installed();
        let port = free_port();
        let options = [
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            "no",
        ]
        .iter()
        .map(|o| (*o).to_owned())
        .collect();
        let mut server = RedisServer {
            port,
            child: None,
            options,
            tls: Some(dir),
        };
        server.start_again();
        server
    }

    /// The test CA a client of `start_tls`'s server must trust.
    pub fn ca_file(&self) -> String {
        let dir = self.tls.as_ref().expect("a TLS server");
        dir.path().join("ca.pem").display().to_string()
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The URL with a password.
    pub fn url_with_password(&self, password: &str) -> String {
        format!("redis://:{password}@127.0.0.1:{}", self.port)
    }

    /// Starts the server (empty) on its port, and returns once it says it accepts connections.
    pub fn start_again(&mut self) {
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                &std::env::temp_dir().display().to_string(),
            ])
            .args(&self.options)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let mut log = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        loop {
            line.clear();
            let read = log.read_line(&mut line).expect("redis-server's log");
            assert!(
                read > 0,
                "redis-server stopped before it was ready (port {})",
                self.port
            );
            if line.contains("Ready to accept connections") {
                break;
            }
        }
        // Keep reading, so that the server never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));
        self.child = Some(child);
    }

    /// Stops the server; what it held is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `redis-cli` against this server.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs")
    }

    /// Freezes the server (SIGSTOP): its connections stay open and nothing on them is
    /// answered until `thaw`, however long that takes.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen server go on (SIGCONT), answering what waited.
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("a running server");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} redis-server");
    }

    /// Every key and its value, as a dump of the server would show them.
    pub fn dump(&self) -> Vec<u8> {
        let keys = self.cli(&["--scan"]).stdout;
        let mut dump = keys.clone();
        for key in String::from_utf8_lossy(&keys).lines() {
            dump.extend(self.cli(&["--no-raw", "GET", key]).stdout);
        }
        dump
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
