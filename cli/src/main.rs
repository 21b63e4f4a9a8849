//! The `zmtp` command: ZeroMQ sockets with every security mechanism, from the shell.

#![forbid(unsafe_code)]

mod bench;
mod bench_peer;
mod common;
mod demo;
mod fanout;
mod group;
mod keygen;
mod security;
mod sendrecv;
mod z85cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "zmtp",
    version,
    about = "ZeroMQ (ZMTP 3.x) sockets from the command line"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a CURVE server with ZAP and a client in one process, and show what happens.
    Demo(demo::DemoArgs),
    /// Generate a CURVE keypair (Z85) or a publisher's Ed25519 keypair, or derive a public key.
    Keygen(keygen::KeygenArgs),
    /// Z85 (RFC 32) encode or decode, stdin to stdout.
    Z85(z85cmd::Z85Args),
    /// Our sockets and libzmq side by side: throughput, latency, handshakes.
    Bench(bench::BenchArgs),
    /// One side of a `zmtp bench --processes` case (started by `zmtp bench` itself).
    #[command(hide = true)]
    BenchPeer(bench_peer::PeerArgs),
    /// The subscribers of a `zmtp bench --fanout` case (started by `zmtp bench` itself).
    #[command(hide = true)]
    BenchFanoutPeer(fanout::FanoutPeerArgs),
    /// Send messages (frames as arguments, or one message per stdin line).
    Send(sendrecv::SendArgs),
    /// Receive and print messages.
    Recv(sendrecv::RecvArgs),
    /// Run a group-key coordinator: members join over CURVE and get the keys that `send
    /// --group` seals with and `recv --group` opens with.
    Coordinator(group::CoordinatorArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A benchmark peer runs on a runtime of its own, laid out as the benchmark asks.
    let cli = match cli.command {
        Command::BenchPeer(args) => {
            return match bench_peer::peer(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(f) => f.exit(),
            }
        }
        Command::BenchFanoutPeer(args) => {
            return match fanout::peer(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(f) => f.exit(),
            }
        }
        command => Cli { command },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return common::Failure::other(format!("cannot start runtime: {e}")).exit(),
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => demo::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::BenchPeer(_) | Command::BenchFanoutPeer(_) => {
                Err(common::Failure::other("benchmark peers run on their own"))
            }
            Command::Keygen(args) => keygen::run(args),
            Command::Z85(args) => z85cmd::run(args),
            Command::Send(args) => sendrecv::send(args).await,
            Command::Recv(args) => sendrecv::recv(args).await,
            Command::Coordinator(args) => group::coordinator(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.exit(),
    }
}
