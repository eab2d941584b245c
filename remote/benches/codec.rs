//! The wire codec's cost: postcard encode and decode of the messages that cross between
//! nodes, as the bridge does them (`cargo bench -p zeta-remote --bench codec`).
//!
//! - `encode/tick`: a 3-field tick (`u64`, `u16`, `u64`) into a reused buffer, then
//!   copied out in a vector of its exact size (what a remote send does);
//! - `decode/tick`: the same bytes back into the struct;
//! - `encode/order_32b` and `decode/order_32b`: a struct with a 32-byte `Vec<u8>`;
//! - `baseline/copy_32b`: copying 32 bytes into a new vector, the floor of the
//!   copy-out.
//!
//! Read the encode figures against `baseline/copy_32b`: what is above it is postcard.

use std::time::Duration;

use criterion::{Criterion, black_box};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Tick {
    seq: u64,
    symbol: u16,
    price: u64,
}

#[derive(Serialize, Deserialize)]
struct Order {
    id: u64,
    payload: Vec<u8>,
}

fn encode<T: Serialize>(scratch: &mut Vec<u8>, value: &T) -> Vec<u8> {
    scratch.clear();
    scratch.push(0); // the priority flag
    let buffer = postcard::to_extend(value, core::mem::take(scratch)).unwrap();
    let bytes = buffer.as_slice().to_vec();
    *scratch = buffer;
    bytes
}

fn codec(c: &mut Criterion) {
    let mut scratch = Vec::new();
    let tick = Tick {
        seq: 123_456,
        symbol: 3,
        price: 100_250,
    };
    let order = Order {
        id: 42,
        payload: vec![7; 32],
    };
    let tick_bytes = encode(&mut scratch, &tick);
    let order_bytes = encode(&mut scratch, &order);
    println!(
        "encoded sizes: tick {} bytes, order_32b {} bytes (with the flag byte)",
        tick_bytes.len(),
        order_bytes.len()
    );
    c.bench_function("encode/tick", |b| {
        b.iter(|| encode(&mut scratch, black_box(&tick)))
    });
    c.bench_function("decode/tick", |b| {
        b.iter(|| postcard::from_bytes::<Tick>(black_box(&tick_bytes[1..])).unwrap())
    });
    c.bench_function("encode/order_32b", |b| {
        b.iter(|| encode(&mut scratch, black_box(&order)))
    });
    c.bench_function("decode/order_32b", |b| {
        b.iter(|| postcard::from_bytes::<Order>(black_box(&order_bytes[1..])).unwrap())
    });
    let raw = [7u8; 32];
    c.bench_function("baseline/copy_32b", |b| {
        b.iter(|| black_box(&raw[..]).to_vec())
    });
}

fn main() {
    // Short, as the workspace's other benches (`zeta_bench::criterion`); the command
    // line still overrides it.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args();
    codec(&mut c);
    c.final_summary();
}
