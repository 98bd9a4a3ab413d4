//! Starting `covip serve` for integration tests and talking to it over loopback HTTP.
//!
//! ```ignore
//! mod serve_common;
//! let server = serve_common::Serve::start(&["--max-batch", "4"]);
//! let r = server.post("/v1/chat/completions", &serde_json::json!({...}));
//! assert_eq!(r.status, 200, "{}", r.body);
//! let v = r.json();
//! server.terminate(); // SIGTERM, waits, asserts exit 0
//! ```
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde_json::Value;

/// How long the server may take to load and print its ready line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// The tiny Qwen3-VL checkpoint of covip-model's tests (vision tower included).
pub fn fixture_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../covip-model/tests/fixtures/tiny-qwen3-vl")
}

/// A PNG of covip-model's vision fixtures (20×30, RGB).
pub fn fixture_png() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../covip-model/tests/fixtures/vision/images/rgb_20x30.png"),
    )
    .expect("fixture PNG")
}

/// `data:image/png;base64,…` of `bytes`.
pub fn data_url(bytes: &[u8]) -> String {
    format!("data:image/png;base64,{}", base64(bytes))
}

/// Standard base64 with padding (tests only; the server decodes with the base64 crate).
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            A[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            A[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// An HTTP answer: status, headers (lower-case names), body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `data:` payloads of a server-sent-events body, `[DONE]` included.
    pub fn sse_data(&self) -> Vec<String> {
        self.body
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(str::to_string)
            .collect()
    }

    /// Asserts the OpenAI error object with `status`, and that its message (or `param`)
    /// names `field`; returns the error object.
    pub fn assert_error(&self, status: u16, field: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        let v = self.json();
        let e = &v["error"];
        assert!(e.is_object(), "no error object: {}", self.body);
        let msg = e["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message: {}", self.body));
        assert!(e["type"].is_string(), "no type: {}", self.body);
        assert!(e.get("param").is_some(), "no param: {}", self.body);
        assert_eq!(e["code"], status, "{}", self.body);
        let param = e["param"].as_str().unwrap_or("");
        assert!(
            msg.contains(field) || param.contains(field),
            "the error does not name {field:?}: {}",
            self.body
        );
        e.clone()
    }
}

/// A running `covip serve` child process; killed when dropped.
pub struct Serve {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// `http://HOST:PORT`.
    pub base: String,
    stderr: Arc<Mutex<String>>,
    agent: ureq::Agent,
    /// The API key sent with every request, if any.
    pub key: Option<String>,
}

impl Serve {
    /// `covip serve --model <fixture> --port 0 ARGS…`, waiting for its ready line.
    pub fn start(args: &[&str]) -> Serve {
        Self::start_model(&fixture_model(), args)
    }

    /// `covip serve --model MODEL --port 0 ARGS…`.
    pub fn start_model(model: &Path, args: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_covip"))
            .arg("serve")
            .arg("--model")
            .arg(model)
            .args(["--port", "0"])
            .args(args)
            .env_remove("COVIP_API_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start covip serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let addr = loop {
            match rx.recv_timeout(READY_TIMEOUT) {
                Ok(line) => {
                    if let Some(a) = line.strip_prefix("listening on http://") {
                        break a
                            .trim()
                            .parse::<SocketAddr>()
                            .expect("address on the ready line");
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    panic!(
                        "covip serve printed no ready line (exit {status:?}); stderr:\n{}",
                        stderr.lock().map(|s| s.clone()).unwrap_or_default()
                    );
                }
            }
        };
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(600))
            .build();
        Serve {
            child: Some(child),
            base: format!("http://{addr}"),
            addr,
            stderr,
            agent,
            key: None,
        }
    }

    /// What the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn finish(&self, r: Result<ureq::Response, ureq::Error>) -> Reply {
        let resp = match r {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("request failed: {e}; server stderr:\n{}", self.stderr()),
        };
        let status = resp.status();
        let headers = resp
            .headers_names()
            .into_iter()
            .filter_map(|n| {
                resp.header(&n)
                    .map(|v| (n.to_ascii_lowercase(), v.to_string()))
            })
            .collect();
        let body = resp.into_string().unwrap_or_default();
        Reply {
            status,
            headers,
            body,
        }
    }

    fn with_key(&self, req: ureq::Request) -> ureq::Request {
        match &self.key {
            Some(k) => req.set("Authorization", &format!("Bearer {k}")),
            None => req,
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        self.finish(self.with_key(self.agent.get(&self.url(path))).call())
    }

    /// POSTs `body` as JSON.
    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_raw(path, body.to_string().as_bytes())
    }

    /// POSTs raw bytes as `application/json`.
    pub fn post_raw(&self, path: &str, body: &[u8]) -> Reply {
        let req = self
            .with_key(self.agent.post(&self.url(path)))
            .set("Content-Type", "application/json");
        self.finish(req.send_bytes(body))
    }

    /// POSTs with the given headers only (no automatic key).
    pub fn post_with_headers(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
        let mut req = self
            .agent
            .post(&self.url(path))
            .set("Content-Type", "application/json");
        for (k, v) in headers {
            req = req.set(k, v);
        }
        self.finish(req.send_bytes(body.to_string().as_bytes()))
    }

    /// Starts a streamed POST and returns the open response (headers read, body not).
    pub fn post_stream(&self, path: &str, body: &Value) -> ureq::Response {
        self.with_key(self.agent.post(&self.url(path)))
            .set("Content-Type", "application/json")
            .send_bytes(body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("stream request failed: {e}; stderr:\n{}", self.stderr()))
    }

    /// `(running sequences, waiting requests)` from `GET /metrics`.
    pub fn load(&self) -> (u64, u64) {
        let r = self.get("/metrics");
        assert_eq!(r.status, 200, "{}", r.body);
        let gauge = |name: &str| {
            r.body
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {}", r.body))
        };
        (
            gauge("covip:num_requests_running"),
            gauge("covip:num_requests_waiting"),
        )
    }

    /// The chat answer's first choice text for a greedy request (asserts 200).
    pub fn chat_text(&self, body: &Value) -> String {
        let r = self.post("/v1/chat/completions", body);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["choices"][0]["message"]["content"]
            .as_str()
            .expect("content")
            .to_string()
    }

    /// Sends SIGTERM and waits for the process (at most `timeout`).
    pub fn terminate_within(mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(ok.success());
        let start = std::time::Instant::now();
        loop {
            if let Some(s) = child.try_wait().expect("wait") {
                return s;
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!("covip serve did not exit within {timeout:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then asserts a clean exit (status 0) within 60 s.
    pub fn terminate(self) {
        let stderr = self.stderr.clone();
        let s = self.terminate_within(Duration::from_secs(60));
        assert!(
            s.success(),
            "covip serve exited with {s:?}; stderr:\n{}",
            stderr.lock().map(|s| s.clone()).unwrap_or_default()
        );
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
