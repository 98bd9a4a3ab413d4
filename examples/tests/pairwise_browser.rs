//! `covip pairwise` in a real browser: headless Chromium driven over WebDriver (Debian's
//! `chromium` and `chromium-driver`; chromedriver on a free loopback port, started here).
//! The page is made by `covip pairwise make`, loaded from a `file://` URL, answered by clicking
//! its radio buttons, exported with its button (the JSON read from `textarea#export` and from
//! the Blob download), and the export is tallied by `covip pairwise tally`; the counts must be
//! the ones the clicks imply once un-blinded.
//!
//! Without chromium or chromedriver the test prints a notice and passes, except under CI
//! (`CI` set), where it fails: the browser check is part of what CI proves. `COVIP_CHROMIUM`
//! and `COVIP_CHROMEDRIVER` name other binaries.
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use covip_eval::pairwise::{SheetKey, load_test_samples, read_key};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

fn covip() -> Command {
    Command::new(env!("CARGO_BIN_EXE_covip"))
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `name` on PATH (or the path in `env_var`), if it is there.
fn find_binary(env_var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env_var) {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// chromedriver, killed when the test ends however it ends.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver(binary: &Path, log: &Path) -> Driver {
    // A free port: bind port 0, read it, release it for chromedriver.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let log_file = std::fs::File::create(log).unwrap();
    let child = Command::new(binary)
        .arg(format!("--port={port}"))
        .arg(format!("--log-path={}", log.display()))
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
    let driver = Driver { child, port };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "chromedriver did not listen on {addr} within 30 s; its log: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    driver
}

/// What the simulated rater does with each pair, and what the tally must then say.
struct Plan {
    /// `(element id to click)` for every answer.
    clicks: Vec<String>,
    /// `[a_file_wins, b_file_wins, ties]` for context and description.
    expect_context: [u64; 3],
    expect_description: [u64; 3],
}

/// Context: prefer the caption from the A file, except on the last pair (Tie). Description:
/// always answer side "B", whichever file it shows.
fn plan(key: &SheetKey, shown_a_is_a_file: &[bool]) -> Plan {
    let n = key.pairs.len();
    let mut clicks = Vec::new();
    let mut ctx = [0u64; 3];
    let mut desc = [0u64; 3];
    for (i, (p, &a_is_a)) in key.pairs.iter().zip(shown_a_is_a_file).enumerate() {
        if i + 1 == n {
            clicks.push(format!("{}-context-Tie", p.pair));
            ctx[2] += 1;
        } else {
            let side = if a_is_a { "A" } else { "B" };
            clicks.push(format!("{}-context-{side}", p.pair));
            ctx[0] += 1;
        }
        clicks.push(format!("{}-description-B", p.pair));
        // Side B shows the A file exactly when side A does not.
        if a_is_a {
            desc[1] += 1;
        } else {
            desc[0] += 1;
        }
    }
    Plan {
        clicks,
        expect_context: ctx,
        expect_description: desc,
    }
}

/// Everything observed in the browser, checked after the session is closed.
struct Observed {
    title: String,
    scripts: i64,
    injected: bool,
    partial_export: String,
    partial_status: String,
    export: String,
    status: String,
    progress: String,
    restored_checked: i64,
}

async fn drive(
    client: &Client,
    url: &str,
    key: &SheetKey,
) -> Result<(Observed, Plan), fantoccini::error::CmdError> {
    client.goto(url).await?;
    let title = client.title().await?;
    let scripts = client
        .execute("return document.scripts.length;", vec![])
        .await?
        .as_i64()
        .unwrap_or(-1);
    // A caption carries a <script> setting this flag: escaped, it never runs.
    let injected = client
        .execute("return window.__pwned === 1;", vec![])
        .await?
        .as_bool()
        .unwrap_or(true);

    // Export before answering anything: every answer is null, and the page says so.
    client
        .find(Locator::Css("#export-button"))
        .await?
        .click()
        .await?;
    let partial_export = textarea(client).await?;
    let partial_status = client
        .find(Locator::Id("export-status"))
        .await?
        .text()
        .await?;

    // Read which file each side shows (the markers of the caption files), then answer.
    let mut shown_a_is_a_file = Vec::new();
    for p in &key.pairs {
        let sel = format!(
            "section[data-pair=\"{}\"] .caption[data-side=\"A\"] .caption-text",
            p.pair
        );
        let text = client.find(Locator::Css(&sel)).await?.text().await?;
        shown_a_is_a_file.push(text.starts_with("AFILE"));
    }
    let plan = plan(key, &shown_a_is_a_file);
    for id in &plan.clicks {
        client.find(Locator::Id(id)).await?.click().await?;
    }
    client
        .find(Locator::Id("rater"))
        .await?
        .send_keys("rater <one> & \"two\"")
        .await?;
    client
        .find(Locator::Css("#export-button"))
        .await?
        .click()
        .await?;
    let export = textarea(client).await?;
    let status = client
        .find(Locator::Id("export-status"))
        .await?
        .text()
        .await?;
    let progress = client.find(Locator::Id("progress")).await?.text().await?;

    // Reload: the answers come back from the page's autosave.
    client.goto(url).await?;
    let restored_checked = client
        .execute(
            "return document.querySelectorAll('input[type=radio]:checked').length;",
            vec![],
        )
        .await?
        .as_i64()
        .unwrap_or(-1);
    Ok((
        Observed {
            title,
            scripts,
            injected,
            partial_export,
            partial_status,
            export,
            status,
            progress,
            restored_checked,
        },
        plan,
    ))
}

async fn textarea(client: &Client) -> Result<String, fantoccini::error::CmdError> {
    Ok(client
        .execute("return document.getElementById('export').value;", vec![])
        .await?
        .as_str()
        .unwrap_or_default()
        .to_string())
}

#[test]
fn pairwise_sheet_in_headless_chromium() {
    let chromium = find_binary("COVIP_CHROMIUM", &["chromium", "chromium-browser"]);
    let chromedriver = find_binary("COVIP_CHROMEDRIVER", &["chromedriver"]);
    let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
        let msg = "chromium and chromedriver are needed (Debian: apt-get install chromium \
                   chromium-driver)";
        if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
            panic!("{msg}; under CI this test must run");
        }
        eprintln!("NOTICE: skipping the pairwise browser test: {msg}");
        return;
    };

    let dir = tempfile::tempdir().unwrap();
    let data = repo_root().join("data/sample/test");
    let samples = load_test_samples(&data).unwrap();
    let hostile = "<b>bold</b> & <script>window.__pwned = 1;</script>";
    let a: serde_json::Map<String, Value> = samples
        .iter()
        .map(|s| (s.id.clone(), json!(format!("AFILE {} {hostile}", s.id))))
        .collect();
    // The second file in the other accepted shape.
    let b: serde_json::Map<String, Value> = samples
        .iter()
        .map(|s| (s.id.clone(), json!({"caption": format!("BFILE {}", s.id)})))
        .collect();
    let a_path = dir.path().join("personalised.json");
    let b_path = dir.path().join("generic.json");
    std::fs::write(&a_path, Value::Object(a).to_string()).unwrap();
    std::fs::write(&b_path, Value::Object(b).to_string()).unwrap();
    let page = dir.path().join("sheet.html");
    let out = covip()
        .args(["pairwise", "make"])
        .args([&a_path, &b_path])
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&page)
        .args(["--seed", "42"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "make: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key_path = dir.path().join("sheet.key.json");
    let key = read_key(&key_path).unwrap();
    assert_eq!(key.pairs.len(), samples.len());

    let driver = start_driver(&chromedriver, &dir.path().join("chromedriver.log"));
    let downloads = dir.path().join("downloads");
    std::fs::create_dir(&downloads).unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--window-size=1280,1024",
                format!("--user-data-dir={}", dir.path().join("profile").display()),
            ],
            "prefs": {
                "download.default_directory": downloads,
                "download.prompt_for_download": false,
            },
        }),
    );
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let webdriver = format!("http://127.0.0.1:{}", driver.port);
    let result = rt.block_on(async {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = tokio::time::timeout(
            Duration::from_secs(60),
            ClientBuilder::new(connector)
                .capabilities(caps)
                .connect(&webdriver),
        )
        .await
        .expect("WebDriver session within 60 s")
        .unwrap_or_else(|e| panic!("WebDriver session: {e}"));
        let r = tokio::time::timeout(Duration::from_secs(120), drive(&client, &url, &key)).await;
        // Always end the session, so no browser outlives the test.
        let _ = client.close().await;
        r
    });
    let (seen, plan) = result
        .expect("the browser steps took over 120 s")
        .unwrap_or_else(|e| panic!("WebDriver: {e}"));
    drop(driver);

    assert!(seen.title.contains(&key.sheet_id), "title {:?}", seen.title);
    assert_eq!(seen.scripts, 2, "only the page's own two scripts");
    assert!(!seen.injected, "a caption's <script> ran");

    // The unanswered export: every answer null, the page says how many are missing, and the
    // tally refuses it, naming the gap.
    let n = key.pairs.len();
    let partial: Value = serde_json::from_str(&seen.partial_export).unwrap();
    assert_eq!(partial["choices"].as_array().unwrap().len(), n);
    assert!(partial["choices"][0]["context"].is_null());
    assert!(
        seen.partial_status
            .contains(&format!("{} answer(s) still missing", 2 * n)),
        "{}",
        seen.partial_status
    );
    let partial_path = dir.path().join("partial.json");
    std::fs::write(&partial_path, &seen.partial_export).unwrap();
    let out = covip()
        .args(["pairwise", "tally"])
        .arg(&partial_path)
        .arg("--key")
        .arg(&key_path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{} answer(s) missing", 2 * n)),
        "{err}"
    );

    // The full export.
    let export: Value = serde_json::from_str(&seen.export).unwrap();
    assert_eq!(export["format"], "covip-pairwise-choices/1");
    assert_eq!(export["sheet_id"], key.sheet_id.as_str());
    assert_eq!(export["rater"], "rater <one> & \"two\"");
    assert!(
        seen.status.starts_with("All answers given"),
        "{}",
        seen.status
    );
    assert_eq!(
        seen.progress,
        format!("{} of {} answers given", 2 * n, 2 * n)
    );
    assert_eq!(
        seen.restored_checked,
        2 * n as i64,
        "answers not restored on reload"
    );

    // Each export also downloaded its JSON through a Blob: two files (Chromium names the
    // second `choices-ID (1).json`), the unanswered export and the full one.
    let stem = format!("choices-{}", key.sheet_id);
    let downloaded = || -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&downloads)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with(&stem) && name.ends_with(".json")
            })
            .collect();
        files.sort();
        files
    };
    let start = Instant::now();
    while downloaded().len() < 2 && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let files = downloaded();
    assert_eq!(files.len(), 2, "downloads: {files:?}");
    let mut downloaded_choices: Vec<Value> = files
        .iter()
        .map(|f| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
            v["choices"].clone()
        })
        .collect();
    downloaded_choices.sort_by_key(|c| c.to_string());
    let mut expected = vec![partial["choices"].clone(), export["choices"].clone()];
    expected.sort_by_key(|c| c.to_string());
    assert_eq!(downloaded_choices, expected);

    // Tally it.
    let choices = dir.path().join("choices.json");
    std::fs::write(&choices, &seen.export).unwrap();
    let tally_path = dir.path().join("tally.json");
    let out = covip()
        .args(["pairwise", "tally"])
        .arg(&choices)
        .arg("--key")
        .arg(&key_path)
        .arg("--out")
        .arg(&tally_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tally: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t: Value = serde_json::from_str(&std::fs::read_to_string(&tally_path).unwrap()).unwrap();
    let counts = |c: &str| {
        [
            t["criteria"][c]["a_file_wins"].as_u64().unwrap(),
            t["criteria"][c]["b_file_wins"].as_u64().unwrap(),
            t["criteria"][c]["ties"].as_u64().unwrap(),
        ]
    };
    assert_eq!(counts("context"), plan.expect_context, "{t:#}");
    assert_eq!(counts("description"), plan.expect_description, "{t:#}");
    assert_eq!(t["a_file"], a_path.display().to_string());
    assert_eq!(t["interval"]["method"], "Wilson score interval");
    let [a_wins, _, ties] = plan.expect_context;
    assert!(
        stdout.contains(&format!(
            "| context groundedness | {a_wins} | 0 | {ties} | 0 | 1.000 |"
        )),
        "{stdout}"
    );
}
