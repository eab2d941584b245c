//! Placeholder replaced by the pool bench.
fn main() {}
