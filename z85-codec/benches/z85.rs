//! Z85 throughput, ours and the `z85` crate side by side.
//!
//! `cargo bench -p z85-codec --bench z85`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn bench(c: &mut Criterion) {
    let key = [0xA7u8; 32];
    let mib: Vec<u8> = (0..1 << 20).map(|i| (i * 7 % 251) as u8).collect();
    for (name, bin) in [("32B", key.to_vec()), ("1MiB", mib)] {
        let text = z85_codec::encode(&bin).unwrap();
        let mut group = c.benchmark_group(format!("z85_{name}"));
        group.throughput(Throughput::Bytes(bin.len() as u64));
        let mut out = vec![0u8; text.len()];
        group.bench_function(BenchmarkId::new("encode", "ours"), |b| {
            b.iter(|| z85_codec::encode_into(&bin, &mut out).unwrap())
        });
        group.bench_function(BenchmarkId::new("encode-alloc", "ours"), |b| {
            b.iter(|| z85_codec::encode(&bin).unwrap())
        });
        group.bench_function(BenchmarkId::new("encode", "z85-crate"), |b| {
            b.iter(|| z85::encode(&bin))
        });
        let mut back = vec![0u8; bin.len()];
        group.bench_function(BenchmarkId::new("decode", "ours"), |b| {
            b.iter(|| z85_codec::decode_into(text.as_bytes(), &mut back).unwrap())
        });
        group.bench_function(BenchmarkId::new("decode-alloc", "ours"), |b| {
            b.iter(|| z85_codec::decode(&text).unwrap())
        });
        group.bench_function(BenchmarkId::new("decode", "z85-crate"), |b| {
            b.iter(|| z85::decode(&text).unwrap())
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
