//! All HTTP and database tests in one binary (one link step), each on its own database.

mod common;
mod host_locks;
