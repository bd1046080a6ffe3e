//! A connection the server closes mid-run (4409: its outbound queue could not take a message)
//! ends that connection's part of the run, not the run: the generator finishes, reports the
//! closes, and counts what those connections had outstanding or still to send as `CLOSED`.
//! (Before, the first close aborted the whole run with "Sending after closing is not allowed",
//! and the benchmark's knee was the generator's.)

use parley_testkit::TestGateway;

#[tokio::test]
async fn a_run_survives_the_connections_the_server_closes() -> anyhow::Result<()> {
    // No message frame fits a 200-byte queue (a sign-in answer does): every recipient is closed
    // at its first delivery, the publisher at its first ack.
    let gw = TestGateway::start_with(|c| {
        c.ws.outbound_bytes = 200;
        c.limits.enabled = false;
    })
    .await?;
    let addr = gw.addr().to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_parley-loadtest"))
            .args(["--json", "--addr", &addr])
            .args([
                "fanout",
                "--members",
                "5",
                "--rate",
                "50",
                "--duration",
                "2",
            ])
            .output()
    })
    .await??;
    assert!(
        out.status.success(),
        "the generator gave up: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let closed = report["closed_by_server"].as_u64().unwrap_or(0);
    assert!(closed >= 4, "the recipients were closed: {report}");
    // The publisher's own acks do not fit either: its sends count as CLOSED, none as lost
    // silently (sent + never sent = the schedule).
    let failed = report["errors"]["CLOSED"].as_u64().unwrap_or(0);
    assert!(failed > 0, "{report}");
    Ok(())
}
