//! Debian's Chromium, headless, driven through Debian's chromedriver (WebDriver) with fantoccini:
//! the status page tests click what an admin clicks.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether the browser tests can run here. Without Chromium they are skipped with a notice,
/// except under CI (CI=true), where `.ci/run` installs it and a missing binary is a failure.
pub fn available() -> bool {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "chromium or chromedriver is not installed; .ci/run installs Debian's packages"
    );
    eprintln!(
        "NOTICE: {CHROMIUM} or {CHROMEDRIVER} not found; skipping the browser tests \
         (apt-get install chromium chromium-driver)"
    );
    false
}

/// A chromedriver process and one headless Chromium session; both end when dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
}

impl Browser {
    /// Trusts any server certificate: the test PKI's CA is not in Chromium's store, and what is
    /// tested here is the page, not Apache's certificate (the TLS tests cover that).
    pub async fn start() -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let capabilities = serde_json::json!({
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,720"],
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        let client = ClientBuilder::native()
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        Browser { client, driver }
    }

    /// Ends the Chromium session (dropping only stops chromedriver).
    pub async fn close(&self) {
        let _ = self.client.clone().close().await;
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Waits (up to 20 s) until the page at the current path shows `expected`: a click on a
    /// submit button returns before the next page has loaded. The path and text it ended with.
    pub async fn wait_for(&self, path: &str, expected: &str) -> (String, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // Mid-navigation the body may be gone: read again.
            let text = match self.client.find(Locator::Css("body")).await {
                Ok(body) => body.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            let now_at = self.path().await;
            if (now_at == path && text.contains(expected)) || Instant::now() > deadline {
                return (now_at, text);
            }
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn text(&self) -> String {
        self.client
            .find(Locator::Css("body"))
            .await
            .expect("body")
            .text()
            .await
            .expect("page text")
    }

    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("current URL")
            .path()
            .to_string()
    }

    /// Types into the inputs `fields` (by id) and presses the form's submit button.
    pub async fn fill_and_submit(&self, fields: &[(&str, &str)]) {
        for (id, value) in fields {
            let input = self
                .client
                .find(Locator::Id(id))
                .await
                .unwrap_or_else(|e| panic!("input #{id}: {e}"));
            input.clear().await.expect("clear");
            input.send_keys(value).await.expect("type");
        }
        self.click("main form button[type=submit]").await;
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
            .len()
    }

    /// The value of the first element matching `css`'s attribute `name`.
    pub async fn attribute(&self, css: &str, name: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .attr(name)
            .await
            .expect("attribute")
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
