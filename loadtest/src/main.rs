//! `parley-loadtest`: drives a running server over its public API, open loop: every send is
//! scheduled at its intended time (fixed or Poisson gaps) whatever the replies do, and latency is
//! measured from that intended time (no coordinated omission). The generator reports its own lag
//! so a saturated generator shows instead of hiding. Scenarios: `steady`, `fanout`,
//! `connections`, `reconnect-storm`, `history`, `uploads`; protocols: Parley's, Socket.IO (the seeds'
//! Node.js stack), Matrix (Synapse) and XMPP over WebSocket (ejabberd), for side-by-side numbers.

// A command-line report tool: printing is its output.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

mod arrivals;
mod client;
mod connections;
mod cpu;
mod drive;
mod history;
mod http;
mod matrix;
mod record;
mod steady;
mod storm;
mod uploads;
mod xmpp;

use arrivals::Arrivals;
use client::Protocol;
use steady::Load;

#[derive(Debug, Parser)]
#[command(name = "parley-loadtest", version, about)]
struct Cli {
    /// The server's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Another instance of the same deployment (repeat for more): `steady` spreads connections
    /// over every instance, `fanout` puts every recipient on these and the publisher on `--addr`.
    #[arg(long = "also-addr")]
    also_addr: Vec<SocketAddr>,
    /// `NAME=PID` (or `NAME=self`): report that process's CPU seconds (with its children's) over
    /// the measured window, and per acknowledged message (`steady`). Repeat for more.
    #[arg(long = "cpu-of", value_parser = cpu::parse)]
    cpu_of: Vec<cpu::Watched>,
    /// The server's protocol (the set-up REST calls are the same for both).
    #[arg(long, value_enum, default_value_t = Protocol::Parley)]
    protocol: Protocol,
    /// How sends (and page requests) are spaced.
    #[arg(long, value_enum, default_value_t = Arrivals::Fixed)]
    arrivals: Arrivals,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write each latency's HdrHistogram percentile distribution (`.hgrm`) here.
    #[arg(long)]
    hgrm_dir: Option<PathBuf>,
    /// File name prefix for the `.hgrm` files.
    #[arg(long, default_value = "run")]
    label: String,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// C connections over M group conversations, R messages/s in total, for D seconds.
    Steady {
        #[arg(long, default_value_t = 50)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        conversations: usize,
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        #[arg(long, default_value_t = 10)]
        duration: u64,
    },
    /// One group of N members; one publishes R messages/s, every other member receives.
    Fanout {
        #[arg(long, default_value_t = 1000)]
        members: usize,
        #[arg(long, default_value_t = 250)]
        rate: u64,
        #[arg(long, default_value_t = 10)]
        duration: u64,
    },
    /// Open C idle connections; report connect rate and the server's memory per connection.
    Connections {
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// Users the connections are spread over (the server's `ws.max_per_user` must allow it).
        #[arg(long, default_value_t = 100)]
        users: usize,
        /// Seconds to hold them open before measuring.
        #[arg(long, default_value_t = 3)]
        hold: u64,
        /// The server's pid, to read its resident memory and CPU time.
        #[arg(long)]
        server_pid: Option<u32>,
        /// While holding, send `presence:heartbeat` on every connection this many seconds apart
        /// (0: none; the server's `presence.heartbeat_interval` must then be longer than the run).
        #[arg(long, default_value_t = 0)]
        heartbeat: u64,
        /// Source addresses start at 127.0.0.<N> (give each generator process its own).
        #[arg(long, default_value_t = 1)]
        source_base: u8,
    },
    /// C members drop at once and reconnect within a jitter window, then fill the gap by REST.
    ReconnectStorm {
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        group_size: usize,
        /// Messages/s published across the groups throughout.
        #[arg(long, default_value_t = 200)]
        rate: u64,
        /// Milliseconds over which everyone comes back.
        #[arg(long, default_value_t = 2000)]
        jitter_ms: u64,
        /// Seconds before the drop.
        #[arg(long, default_value_t = 3)]
        before: u64,
    },
    /// C users each upload one file of S MiB at once, R rounds: throughput and server memory.
    Uploads {
        #[arg(long, default_value_t = 20)]
        concurrency: usize,
        #[arg(long, default_value_t = 25)]
        size_mib: u64,
        #[arg(long, default_value_t = 1)]
        rounds: usize,
        /// The server's pid, to sample its resident memory and CPU time.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// REST history pages: K connections at R requests/s over a conversation of M messages.
    History {
        #[arg(long, default_value_t = 5000)]
        messages: u64,
        #[arg(long, default_value_t = 16)]
        connections: usize,
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        #[arg(long, default_value_t = 10)]
        duration: u64,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Lives for the whole run.
    let also: &'static [SocketAddr] = Vec::leak(cli.also_addr.clone());
    let cpu: &'static [cpu::Watched] = Vec::leak(cli.cpu_of.clone());
    let load = |rate: u64, duration: u64| Load {
        addr: cli.addr,
        also,
        cpu,
        protocol: cli.protocol,
        arrivals: cli.arrivals,
        rate: rate.max(1),
        duration: Duration::from_secs(duration.max(1)),
    };
    let report = match cli.scenario {
        Scenario::Steady {
            connections,
            conversations,
            rate,
            duration,
        } if cli.protocol == Protocol::Matrix => {
            matrix::steady(load(rate, duration), connections.max(1), conversations).await?
        }
        Scenario::Steady {
            connections,
            conversations,
            rate,
            duration,
        } => steady::steady(load(rate, duration), connections.max(1), conversations).await?,
        Scenario::Fanout {
            members,
            rate,
            duration,
        } => steady::fanout(load(rate, duration), members).await?,
        Scenario::Connections {
            connections,
            users,
            hold,
            server_pid,
            heartbeat,
            source_base,
        } => {
            connections::connections(connections::Options {
                addr: cli.addr,
                protocol: cli.protocol,
                connections,
                users,
                hold: Duration::from_secs(hold),
                server_pid,
                heartbeat: (heartbeat > 0).then(|| Duration::from_secs(heartbeat)),
                source_base,
            })
            .await?
        }
        Scenario::ReconnectStorm {
            connections,
            group_size,
            rate,
            jitter_ms,
            before,
        } => {
            storm::storm(storm::Options {
                addr: cli.addr,
                connections,
                group_size,
                rate,
                jitter: Duration::from_millis(jitter_ms),
                before: Duration::from_secs(before),
            })
            .await?
        }
        Scenario::Uploads {
            concurrency,
            size_mib,
            rounds,
            server_pid,
        } => {
            uploads::uploads(uploads::Options {
                addr: cli.addr,
                concurrency: concurrency.max(1),
                size_mib: size_mib.max(1),
                rounds: rounds.max(1),
                server_pid,
            })
            .await?
        }
        Scenario::History {
            messages,
            connections,
            rate,
            duration,
        } => {
            history::history(history::Options {
                addr: cli.addr,
                arrivals: cli.arrivals,
                messages,
                connections,
                rate,
                duration: Duration::from_secs(duration.max(1)),
            })
            .await?
        }
    };
    if let Some(dir) = &cli.hgrm_dir {
        report.write_hgrm(dir, &cli.label)?;
    }
    if cli.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}
