//! A real SMTP server for tests: aiosmtpd (PyPI, installed by `.ci/run` beside moto), started
//! as a child process on a free loopback port, storing every message it takes in a Maildir that
//! the test reads back. Killed when dropped.
//!
//! The Python it runs is `$TOKPOST_TEST_PYTHON`, else `$TOKPOST_MOTO_PYTHON` (the same
//! virtualenv), else `python3`. A test that needs it fails when it cannot start: it never skips.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running aiosmtpd, killed on drop.
#[derive(Debug)]
pub struct SmtpServer {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

/// One message the server took.
#[derive(Debug, Clone)]
pub struct Received {
    pub to: String,
    pub from: String,
    pub subject: String,
    /// The body, decoded from quoted-printable when it was sent so.
    pub body: String,
}

const READY_WAIT: Duration = Duration::from_secs(30);

fn python() -> String {
    std::env::var("TOKPOST_TEST_PYTHON")
        .or_else(|_| std::env::var("TOKPOST_MOTO_PYTHON"))
        .unwrap_or_else(|_| "python3".to_owned())
}

impl SmtpServer {
    /// Starts aiosmtpd and waits until it accepts connections.
    ///
    /// # Panics
    /// When aiosmtpd cannot be started (with how to install it).
    pub async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let maildir = tempfile::tempdir().expect("a temporary directory");
        let python = python();
        let mut child = Command::new(&python)
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(maildir.path().join("mail"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("could not start `{python} -m aiosmtpd` ({error}); `.ci/run` installs aiosmtpd (pip install aiosmtpd==1.4.6) and sets TOKPOST_TEST_PYTHON")
            });
        let polls = READY_WAIT.as_millis() / 50;
        for _ in 0..polls {
            if let Ok(Some(status)) = child.try_wait() {
                let mut log = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut stderr, &mut log);
                }
                panic!(
                    "aiosmtpd exited ({status}) before it listened (is it installed for {python}? `.ci/run` installs it): {log}"
                );
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Self {
                    child,
                    port,
                    maildir,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("aiosmtpd did not listen on 127.0.0.1:{port} within {READY_WAIT:?}");
    }

    /// `smtp://127.0.0.1:<port>`, for `email.smtp_url`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn new_dir(&self) -> PathBuf {
        self.maildir.path().join("mail").join("new")
    }

    /// Every message taken so far, oldest first.
    #[must_use]
    pub fn messages(&self) -> Vec<Received> {
        let Ok(entries) = std::fs::read_dir(self.new_dir()) else {
            return Vec::new();
        };
        let mut files: Vec<_> = entries.filter_map(Result::ok).collect();
        files.sort_by_key(|entry| entry.file_name());
        files
            .iter()
            .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
            .map(|text| parse(&text))
            .collect()
    }

    /// Waits (at most 10 s of real time: the server writes the file after answering) until
    /// `count` messages were taken, and returns them.
    ///
    /// # Panics
    /// When fewer arrive.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..200 {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{count} message(s) expected, {} arrived",
            self.messages().len()
        );
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Headers (RFC 2047 words decoded) and the text body (its transfer encoding undone) of a
/// stored message, read by mail-parser.
fn parse(text: &str) -> Received {
    let Some(message) = mail_parser::MessageParser::default().parse(text.as_bytes()) else {
        return Received {
            to: String::new(),
            from: String::new(),
            subject: String::new(),
            body: text.to_owned(),
        };
    };
    let address = |address: Option<&mail_parser::Address<'_>>| {
        address
            .and_then(|address| address.first())
            .map(|first| match (first.name(), first.address()) {
                (Some(name), Some(email)) => format!("{name} <{email}>"),
                (None, Some(email)) => email.to_owned(),
                (name, None) => name.unwrap_or_default().to_owned(),
            })
            .unwrap_or_default()
    };
    Received {
        to: address(message.to()),
        from: address(message.from()),
        subject: message.subject().unwrap_or_default().to_owned(),
        body: message
            .body_text(0)
            .map(|body| body.replace("\r\n", "\n"))
            .unwrap_or_default(),
    }
}
