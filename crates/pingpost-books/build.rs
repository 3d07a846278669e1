// `sqlx::migrate!` reads `migrations/` at compile time, but cargo does not know that: without
// this, a migration added or edited would not rebuild the crate, and the binary would carry
// the old schema.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
