// Migrations are embedded with `embed_migrations!`; this makes an edited migration rebuild the binary.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
