//! A TCP port in front of PostgreSQL that can be shut: the database host going away and coming
//! back, for the service's handling of an outage.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use diesel::connection::SimpleConnection;
use diesel::Connection;

use super::TestDb;

pub struct Gate {
    port: u16,
    open: Arc<AtomicBool>,
}

impl Gate {
    /// Forwards connections while open; closes them at once while shut.
    pub fn shut() -> Gate {
        let open = Arc::new(AtomicBool::new(false));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let flag = open.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !flag.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect("127.0.0.1:5432") else {
                    continue;
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buffer = [0u8; 16384];
                        while let Ok(n) = from.read(&mut buffer) {
                            if n == 0 || to.write_all(&buffer[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Gate { port, open }
    }

    pub fn opened() -> Gate {
        let gate = Gate::shut();
        gate.open();
        gate
    }

    /// `db`'s URL through the gate.
    pub fn url_for(&self, db: &TestDb) -> String {
        db.url.replace(":5432/", &format!(":{}/", self.port))
    }

    pub fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
    }

    /// Shuts the gate and ends every other session on `db`: the service's pooled connections
    /// break, and new ones are refused.
    pub fn shut_now(&self, db: &TestDb) {
        self.open.store(false, Ordering::SeqCst);
        let mut conn = diesel::PgConnection::establish(&db.url).unwrap();
        conn.batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .unwrap();
    }
}
