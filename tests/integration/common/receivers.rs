//! Receivers of notifications, run in the test process: a webhook receiver, and a stand-in for
//! smart_proxy_monitoring's REST routes that demands a client certificate from the test CA and a
//! trusted CN, as a smart proxy's `trusted_hosts` does. Both record what they receive.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod, SslVerifyMode};
use openssl::x509::X509;

use super::pki;

/// One request as a receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The client certificate's CN (the monitoring stand-in only).
    pub client_cn: Option<String>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A form body or a query string as (key, value) pairs.
    pub fn form(text: &str) -> Vec<(String, String)> {
        text.split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let decode = |s: &str| {
                    percent_encoding::percent_decode_str(&s.replace('+', " "))
                        .decode_utf8_lossy()
                        .to_string()
                };
                (decode(k), decode(v))
            })
            .collect()
    }
}

#[derive(Clone)]
struct Shared {
    received: Arc<Mutex<Vec<Received>>>,
    /// The status answered; 503 plays a receiver that is down.
    status: Arc<AtomicU16>,
    trusted_cn: Option<String>,
}

/// A running receiver; stopped when dropped.
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Shared,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A loopback port nobody listens on yet.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Receiver {
    /// A plain-HTTP webhook receiver on `port` (0: any).
    pub fn webhook(port: u16) -> Receiver {
        Self::start(port, None)
    }

    /// A smart proxy's monitoring API over HTTPS with the test PKI's `localhost` certificate,
    /// accepting only client certificates from the test CA whose CN is `trusted_cn`.
    pub fn monitoring_proxy(trusted_cn: &str) -> Receiver {
        let pki = pki::shared();
        let mut tls = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).expect("acceptor");
        tls.set_certificate_chain_file(&pki.server_cert_file)
            .expect("server cert");
        tls.set_private_key_file(&pki.server_key_file, SslFiletype::PEM)
            .expect("server key");
        tls.set_ca_file(&pki.ca_file).expect("ca");
        tls.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
        Self::start(0, Some((tls, trusted_cn.to_string())))
    }

    fn start(port: u16, tls: Option<(openssl::ssl::SslAcceptorBuilder, String)>) -> Receiver {
        let shared = Shared {
            received: Arc::default(),
            status: Arc::new(AtomicU16::new(200)),
            trusted_cn: tls.as_ref().map(|(_, cn)| cn.clone()),
        };
        let app_shared = shared.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(app_shared.clone()))
                        .default_service(web::to(record))
                })
                .workers(1)
                .on_connect(|connection, data| {
                    use actix_tls::accept::openssl::TlsStream;
                    if let Some(stream) =
                        connection.downcast_ref::<TlsStream<actix_web::rt::net::TcpStream>>()
                    {
                        data.insert(PeerCn(
                            stream
                                .ssl()
                                .peer_certificate()
                                .as_ref()
                                .and_then(common_name),
                        ));
                    }
                });
                let server = match tls {
                    Some((acceptor, _)) => server.bind_openssl(("127.0.0.1", port), acceptor),
                    None => server.bind(("127.0.0.1", port)),
                }
                .expect("bind receiver");
                let addr = server.addrs()[0];
                let running = server.run();
                let _ = tx.send((addr, running.handle()));
                let _ = running.await;
            });
        });
        let (addr, handle) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("receiver started");
        Receiver {
            addr,
            shared,
            handle,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `https://localhost:PORT` (the certificate's name).
    pub fn https_url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// Answer every request with `status` from now on (503: down).
    pub fn answer(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared
            .received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Waits up to `seconds` until `done` holds for what was received.
    pub fn wait_for(&self, seconds: u64, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            let received = self.received();
            if done(&received) || Instant::now() > deadline {
                return received;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(false)));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[derive(Clone)]
struct PeerCn(Option<String>);

fn common_name(cert: &X509) -> Option<String> {
    foreman_dlm::identity::certificate::common_name(cert).ok()
}

async fn record(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let client_cn = req.conn_data::<PeerCn>().and_then(|p| p.0.clone());
    if let Some(trusted) = &shared.trusted_cn {
        // smart-proxy's trusted_hosts: a verified certificate of another host is refused.
        if client_cn.as_deref() != Some(trusted.as_str()) {
            return HttpResponse::Forbidden().body("Untrusted client");
        }
    }
    let status = shared.status.load(Ordering::SeqCst);
    if status == 200 {
        let received = Received {
            method: req.method().to_string(),
            path: req.path().to_string(),
            query: req.query_string().to_string(),
            headers: req
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_string()))
                .collect(),
            body: String::from_utf8_lossy(&body).to_string(),
            client_cn,
        };
        if let Ok(mut all) = shared.received.lock() {
            all.push(received);
        }
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"))
        .content_type("application/json")
        .body("{\"result\":{}}")
}
