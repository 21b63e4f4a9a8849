//! Socket throughput and latency over loopback TCP (NULL security).
//!
//! `cargo bench -p zmtp --bench loopback`

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use zmtp::{Socket, SocketType};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn push_pull(c: &mut Criterion) {
    let rt = runtime();
    let (push, pull) = rt.block_on(async {
        let pull = Socket::new(SocketType::Pull);
        let ep = pull.bind("tcp://127.0.0.1:*").await.unwrap();
        let push = Socket::new(SocketType::Push);
        push.connect(&ep).await.unwrap();
        push.wait_for_peers(1, Duration::from_secs(5))
            .await
            .unwrap();
        (push, pull)
    });
    let mut group = c.benchmark_group("push_pull");
    for size in [64usize, 1024, 65536, 1 << 20] {
        let batch = (4 << 20) / size.max(1) + 1;
        group.throughput(Throughput::Bytes((size * batch) as u64));
        let payload = Bytes::from(vec![0x5Au8; size]);
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let sender = async {
                            for _ in 0..batch {
                                push.send(payload.clone()).await.unwrap();
                            }
                        };
                        let receiver = async {
                            for _ in 0..batch {
                                pull.recv().await.unwrap();
                            }
                        };
                        tokio::join!(sender, receiver);
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

fn req_rep_latency(c: &mut Criterion) {
    let rt = runtime();
    let (req, rep) = rt.block_on(async {
        let rep = Socket::new(SocketType::Rep);
        let ep = rep.bind("tcp://127.0.0.1:*").await.unwrap();
        let req = Socket::new(SocketType::Req);
        req.connect(&ep).await.unwrap();
        req.wait_for_peers(1, Duration::from_secs(5)).await.unwrap();
        (req, rep)
    });
    c.bench_function("req_rep_round_trip_64B", |b| {
        let payload = Bytes::from(vec![1u8; 64]);
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let client = async {
                        req.send(payload.clone()).await.unwrap();
                        req.recv().await.unwrap();
                    };
                    let server = async {
                        let m = rep.recv().await.unwrap();
                        rep.send(m).await.unwrap();
                    };
                    tokio::join!(client, server);
                }
                start.elapsed()
            })
        })
    });
}

criterion_group!(benches, push_pull, req_rep_latency);
criterion_main!(benches);
