//! Placeholder replaced by the inbox bench.
fn main() {}
