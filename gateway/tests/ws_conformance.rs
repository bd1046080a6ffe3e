//! WebSocket conformance against the real gateway, case by case after the Autobahn|Testsuite's
//! sections (which cannot run here: it is Python 2): 1 framing (every length encoding), 2 pings
//! and pongs, 3 reserved bits, 4 opcodes, 5 fragmentation with interleaved control frames, 6 UTF-8
//! (valid and invalid sequences, code points split across fragments), 7 close handling (codes,
//! reasons), 9 limits (1009), 10 misc. Parley speaks JSON over text frames, so where Autobahn
//! echoes a message this suite sends a `ping` event (padded to the size under test) and expects
//! its `pong`. Each failing case opens its own connection; the gateway stays healthy throughout.

use parley_testkit::TestGateway;
use parley_testkit::raw::{Raw, encode, encode_first};
use tokio::io::AsyncWriteExt;

/// A `ping` event of exactly `len` bytes (spaces before the closing brace).
fn ping_of(len: usize, id: &str) -> Vec<u8> {
    let head = format!(r#"{{"event":"ping","id":"{id}""#);
    let mut text = head.into_bytes();
    text.resize(len.saturating_sub(1).max(text.len()), b' ');
    text.push(b'}');
    text
}

/// Reads frames until the `pong` event answering `id` (control frames and other events skipped).
async fn pong_event(raw: &mut Raw, id: &str) -> anyhow::Result<()> {
    loop {
        let (opcode, payload) = raw.read_frame().await?;
        anyhow::ensure!(
            opcode != 0x8,
            "closed with {payload:?} instead of answering {id}"
        );
        if opcode == 0x1 {
            let event: serde_json::Value = serde_json::from_slice(&payload)?;
            if event["event"] == "pong" && event["id"] == id {
                return Ok(());
            }
        }
    }
}

async fn open(gw: &TestGateway, token: &str) -> anyhow::Result<Raw> {
    Raw::connect(gw.addr(), Some(token)).await
}

/// Sends raw bytes on a new connection and expects the server's close with `code`.
async fn closes_with(
    gw: &TestGateway,
    token: &str,
    bytes: &[u8],
    code: u16,
    case: &str,
) -> anyhow::Result<()> {
    let mut raw = open(gw, token).await?;
    raw.stream.write_all(bytes).await?;
    let got = raw
        .close_code()
        .await
        .map_err(|e| anyhow::anyhow!("{case}: {e}"))?;
    anyhow::ensure!(got == code, "{case}: closed with {got}, wanted {code}");
    Ok(())
}

#[tokio::test]
async fn framing_pings_bits_and_opcodes() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| {
        c.ws.max_message_bytes = 128 * 1024;
        c.limits.ws_connect = "100000/1m".parse().expect("rate");
    })
    .await?;
    let token = gw.api().register("conf_frames").await?.access_token;

    // 1.1/1.2: every length encoding (7-bit, 16-bit at its edges, 64-bit), one frame each.
    let mut raw = open(&gw, &token).await?;
    for len in [30, 125, 126, 127, 128, 65_535, 65_536, 100_000] {
        raw.stream
            .write_all(&encode(true, 0x1, &ping_of(len, &format!("l{len}"))))
            .await?;
        pong_event(&mut raw, &format!("l{len}")).await?;
    }
    // 2.1-2.3, 2.5: pings with 0 and 125 bytes of payload, binary payload too, are answered
    // with the same payload; an unsolicited pong is ignored.
    for payload in [Vec::new(), vec![b'x'; 125], vec![0x00, 0xff, 0xfe, 0x80]] {
        raw.frame(true, 0xA, b"unsolicited").await?;
        raw.frame(true, 0x9, &payload).await?;
        let (opcode, echoed) = raw.read_frame().await?;
        assert_eq!((opcode, echoed), (0xA, payload));
    }
    // 2.10: ten pings in a row: every pong carries one of them, the last one is answered.
    for n in 0..10u8 {
        raw.frame(true, 0x9, &[b'p', n]).await?;
    }
    raw.stream
        .write_all(&encode(true, 0x1, &ping_of(40, "after")))
        .await?;
    let mut last = None;
    loop {
        let (opcode, payload) = raw.read_frame().await?;
        match opcode {
            0xA => last = Some(payload),
            0x1 => break,
            other => anyhow::bail!("unexpected opcode {other}"),
        }
    }
    assert_eq!(last, Some(vec![b'p', 9]), "the newest ping is answered");
    raw.frame(true, 0x8, &1000u16.to_be_bytes()).await?;
    assert_eq!(raw.close_code().await?, 1000);

    let big_ping = encode(true, 0x9, &[b'x'; 126]);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        // 2.5: a control frame over 125 bytes.
        ("ping of 126 bytes", big_ping, 1002),
        // Regression (ws_reader fuzz target): closes and pongs are control frames too; a close of
        // 126 bytes was echoed whole.
        ("pong of 126 bytes", encode(true, 0xA, &[b'x'; 126]), 1002),
        (
            "close of 126 bytes",
            encode(
                true,
                0x8,
                &[&1000u16.to_be_bytes()[..], &[b'r'; 124]].concat(),
            ),
            1002,
        ),
        // 2.x / 5.1-5.2: a fragmented control frame.
        ("fragmented ping", encode(false, 0x9, b"a"), 1002),
        (
            "fragmented close",
            encode(false, 0x8, &1000u16.to_be_bytes()),
            1002,
        ),
        // 3.1-3.7: reserved bits without an extension that defines them.
        ("RSV1 on text", encode_first(0x80 | 0x40 | 0x1, b"{}"), 1002),
        ("RSV2 on text", encode_first(0x80 | 0x20 | 0x1, b"{}"), 1002),
        ("RSV3 on text", encode_first(0x80 | 0x10 | 0x1, b"{}"), 1002),
        (
            "RSV1+2+3 on ping",
            encode_first(0x80 | 0x70 | 0x9, b""),
            1002,
        ),
        // 4.1-4.2: reserved opcodes, data (3-7) and control (B-F).
        ("opcode 3", encode(true, 0x3, b""), 1002),
        ("opcode 7", encode(true, 0x7, b"x"), 1002),
        ("opcode 0xB", encode(true, 0xB, b""), 1002),
        ("opcode 0xF", encode(true, 0xF, b"x"), 1002),
        // Binary frames carry nothing Parley reads.
        ("binary", encode(true, 0x2, b"\x01"), 1003),
    ];
    for (case, bytes, code) in cases {
        closes_with(&gw, &token, &bytes, code, case).await?;
    }
    assert_eq!(gw.get("/health/ready").await?.status, 200);
    Ok(())
}

#[tokio::test]
async fn fragmentation_and_utf8() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| c.limits.ws_connect = "100000/1m".parse().expect("rate"))
        .await?;
    let token = gw.api().register("conf_utf8").await?.access_token;

    // 5.3-5.9, 5.15-5.20: fragments of 1 byte each, with pings and pongs between them.
    let mut raw = open(&gw, &token).await?;
    let message = ping_of(60, "frag");
    for (n, byte) in message.iter().enumerate() {
        let opcode = if n == 0 { 0x1 } else { 0x0 };
        raw.frame(n + 1 == message.len(), opcode, &[*byte]).await?;
        if n % 7 == 3 {
            raw.frame(true, 0x9, b"mid").await?;
            raw.frame(true, 0xA, b"spare").await?;
        }
    }
    pong_event(&mut raw, "frag").await?;
    // 6.2-6.4: valid UTF-8 of 1 to 4 bytes per code point, whole and split between fragments at
    // every byte (a code point may straddle fragments).
    let text = r#"{"event":"ping","id":"κόσμε-€-𝄞-ü"}"#.as_bytes().to_vec();
    raw.frame(true, 0x1, &text).await?;
    pong_event(&mut raw, "κόσμε-€-𝄞-ü").await?;
    for cut in 1..text.len() {
        raw.frame(false, 0x1, &text[..cut]).await?;
        raw.frame(true, 0x0, &text[cut..]).await?;
        pong_event(&mut raw, "κόσμε-€-𝄞-ü").await?;
    }
    raw.frame(true, 0x8, &1000u16.to_be_bytes()).await?;
    assert_eq!(raw.close_code().await?, 1000);

    let framed = |body: &[u8]| {
        let mut text = br#"{"event":"ping","id":""#.to_vec();
        text.extend_from_slice(body);
        text.extend_from_slice(br#""}"#);
        text
    };
    let invalid: Vec<(&str, Vec<u8>)> = vec![
        ("lone continuation byte", vec![0x80]),
        ("truncated 2-byte sequence", vec![0xc3]),
        ("overlong slash", vec![0xc0, 0xaf]),
        ("overlong NUL in 3 bytes", vec![0xe0, 0x80, 0x80]),
        ("UTF-16 surrogate", vec![0xed, 0xa0, 0x80]),
        ("past U+10FFFF", vec![0xf4, 0x90, 0x80, 0x80]),
        ("0xFE", vec![0xfe]),
        ("0xFF", vec![0xff]),
    ];
    for (case, bytes) in &invalid {
        // 6.x: in one frame, and 6.4: the bad sequence split over two fragments.
        closes_with(&gw, &token, &encode(true, 0x1, &framed(bytes)), 1007, case).await?;
        let whole = framed(bytes);
        let cut = whole.len() - 3;
        let split = [
            encode(false, 0x1, &whole[..cut]),
            encode(true, 0x0, &whole[cut..]),
        ]
        .concat();
        closes_with(&gw, &token, &split, 1007, &format!("{case}, split")).await?;
    }
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        // 5.9-5.14: continuations without a start, and a new message inside a fragmented one.
        ("continuation first", encode(true, 0x0, b"{}"), 1002),
        (
            "continuation, not final, first",
            encode(false, 0x0, b"{"),
            1002,
        ),
        (
            "text inside a fragmented text",
            [encode(false, 0x1, b"{"), encode(true, 0x1, b"{}")].concat(),
            1002,
        ),
    ];
    for (case, bytes, code) in cases {
        closes_with(&gw, &token, &bytes, code, case).await?;
    }
    assert_eq!(gw.get("/health/ready").await?.status, 200);
    Ok(())
}

#[tokio::test]
async fn close_codes_reasons_and_limits() -> anyhow::Result<()> {
    let gw = TestGateway::start_with(|c| {
        c.ws.max_message_bytes = 4096;
        c.limits.ws_connect = "100000/1m".parse().expect("rate");
    })
    .await?;
    let token = gw.api().register("conf_close").await?.access_token;
    let close = |code: u16, reason: &[u8]| {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason);
        encode(true, 0x8, &payload)
    };
    // 7.1, 7.3: a close with no payload is answered with a close, and a valid code, with and
    // without a reason of up to 123 bytes, with the same code (echoed, as RFC 6455 5.5.1 suggests).
    let mut cases: Vec<(String, Vec<u8>, u16)> = vec![
        ("empty close".into(), encode(true, 0x8, b""), 1000),
        (
            "reason of 123 bytes".into(),
            close(1000, &[b'r'; 123]),
            1000,
        ),
        (
            "UTF-8 reason".into(),
            close(1001, "bye ☕".as_bytes()),
            1001,
        ),
    ];
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 3000, 3999, 4000, 4999,
    ] {
        cases.push((format!("valid code {code}"), close(code, b""), code));
    }
    // 7.3.2, 7.5, 7.9: a one-byte payload, a reason that is not UTF-8, codes no endpoint may send
    // (1012 and 1013, which the Autobahn tables call invalid, have been registered with IANA since
    // and are valid above; fastwebsockets still refuses 1014, registered later, as unknown).
    cases.push((
        "one-byte close payload".into(),
        encode(true, 0x8, &[0x03]),
        1002,
    ));
    cases.push((
        "reason not UTF-8".into(),
        close(1000, &[0xce, 0xba, 0xff]),
        1007,
    ));
    for code in [
        0u16, 999, 1004, 1005, 1006, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        cases.push((format!("invalid code {code}"), close(code, b""), 1002));
    }
    for (case, bytes, code) in &cases {
        let mut raw = open(&gw, &token).await?;
        raw.stream.write_all(bytes).await?;
        // 7.1.2-7.1.4: frames after the close are ignored.
        raw.stream
            .write_all(&encode(true, 0x1, &ping_of(30, "late")))
            .await?;
        let (opcode, payload) = loop {
            let frame = raw.read_frame().await?;
            if frame.0 == 0x8 {
                break frame;
            }
            anyhow::ensure!(
                frame.0 != 0x1,
                "{case}: answered a frame sent after the close"
            );
        };
        assert_eq!(opcode, 0x8);
        // No payload: "no status" (1005), which answers an empty close as well as 1000 does.
        let got = match payload.as_slice() {
            [a, b, ..] => u16::from_be_bytes([*a, *b]),
            _ => 1005,
        };
        let empty_ok = case == "empty close" && got == 1005;
        assert!(
            got == *code || empty_ok,
            "{case}: closed with {got}, wanted {code}"
        );
    }
    // 9: messages up to the cap pass (one frame, and 64 fragments); one byte more is 1009.
    let mut raw = open(&gw, &token).await?;
    raw.stream
        .write_all(&encode(true, 0x1, &ping_of(4096, "cap")))
        .await?;
    pong_event(&mut raw, "cap").await?;
    let message = ping_of(4096, "cap64");
    for (n, part) in message.chunks(64).enumerate() {
        let opcode = if n == 0 { 0x1 } else { 0x0 };
        raw.frame((n + 1) * 64 >= message.len(), opcode, part)
            .await?;
    }
    pong_event(&mut raw, "cap64").await?;
    closes_with(
        &gw,
        &token,
        &encode(true, 0x1, &ping_of(4097, "over")),
        1009,
        "one over the cap",
    )
    .await?;
    let parts = [
        encode(false, 0x1, &[b' '; 4000]),
        encode(true, 0x0, &[b' '; 97]),
    ]
    .concat();
    closes_with(&gw, &token, &parts, 1009, "fragments one over the cap").await?;
    // 10: a frame that announces 2^63 bytes is refused at its header, not awaited.
    let mut huge = vec![0x81, 0x80 | 127];
    huge.extend_from_slice(&(1u64 << 62).to_be_bytes());
    huge.extend_from_slice(&[1, 2, 3, 4]);
    closes_with(&gw, &token, &huge, 1009, "length 2^62").await?;
    assert_eq!(gw.get("/health/ready").await?.status, 200);
    Ok(())
}
