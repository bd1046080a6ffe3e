//! Fuzz targets (not an API): each takes arbitrary bytes and must neither panic, hang, nor hold
//! unbounded memory; each also checks what its answers promise. `fuzz/` runs them under libFuzzer
//! (`make fuzz`); `gateway/tests/fuzz_targets.rs` replays the corpus and a bounded mutation run
//! in `make test`.

use std::cell::Cell;
use std::future::Future;

use bytes::Bytes;

use crate::protocol::events::server;
use crate::protocol::{self as codec, close};
use crate::ws::framed::FrameLimited;
use crate::ws::reader::{self, Frames, ReadEnd};

/// A fuzz target: arbitrary bytes in, a panic for a broken promise.
pub type Target = fn(&[u8]);

/// Every target, by the name its corpus folder and `fuzz/fuzz_targets/` file carry.
pub const TARGETS: &[(&str, Target)] = &[
    ("client_frame", client_frame),
    ("ws_reader", ws_reader),
    ("rest_request", rest_request),
    ("search_query", search_query),
    ("config", config),
];

/// A client text frame through the simd-json parser; errors must encode as JSON frames that echo
/// the client's id only within its bound.
pub fn client_frame(data: &[u8]) {
    let mut buf = data.to_vec();
    match codec::parse(&mut buf) {
        Ok((id, _event)) => {
            if let Some(id) = id.as_deref() {
                assert!(id.len() <= 64, "an id over 64 bytes was accepted");
            }
            let pong = codec::encode(server::PONG, id.as_deref(), serde_json::json!({}));
            assert_json(&pong);
        }
        Err(error) => {
            if let Some(id) = error.id.as_deref() {
                assert!(id.len() <= 64, "an error echoes an id over 64 bytes");
            }
            let frame = codec::encode_error(
                server::ERROR,
                error.id.as_deref(),
                error.client_message_id.as_deref(),
                &error.body,
            );
            assert_json(&frame);
        }
    }
}

fn assert_json(frame: &[u8]) {
    if let Err(error) = serde_json::from_slice::<serde_json::Value>(frame) {
        panic!("the server would send invalid JSON ({error}): {frame:?}");
    }
}

/// Most bytes of one message in the reader target (small, so the limits are reached).
const WS_MAX: usize = 4096;

/// Bytes a client sends after the handshake, through the gateway's frame reader: whole messages
/// must be UTF-8 within the limit; each ends in one of the documented closes.
pub fn ws_reader(data: &[u8]) {
    let mut source = FrameLimited::new(Bytes::copy_from_slice(data), tokio::io::empty());
    let recorder = Recorder::default();
    let future = reader::read_frames(&mut source, WS_MAX, &recorder);
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    // Every byte is in memory: the reader must finish without waiting.
    let end = match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(end) => end,
        std::task::Poll::Pending => panic!("the reader waits on bytes it already has"),
    };
    if let ReadEnd::Close(code, _) = end {
        assert!(
            [
                close::PROTOCOL,
                close::UNSUPPORTED,
                close::INVALID_DATA,
                close::TOO_BIG
            ]
            .contains(&code),
            "undocumented close {code}"
        );
    }
    assert!(
        recorder.controls.get() <= data.len(),
        "more answers than frames"
    );
}

#[derive(Debug, Default)]
struct Recorder {
    controls: Cell<usize>,
}

impl Frames for Recorder {
    fn closing(&self) -> bool {
        false
    }

    fn control(&self, _opcode: u8, payload: Bytes) {
        assert!(payload.len() <= 125, "a control answer over 125 bytes");
        self.controls.set(self.controls.get() + 1);
    }

    fn touched(&self) {}

    fn message(&self, buf: &mut [u8]) -> impl Future<Output = ()> {
        assert!(buf.len() <= WS_MAX, "a message over the limit got through");
        assert!(std::str::from_utf8(buf).is_ok(), "a message is not UTF-8");
        client_frame(buf);
        std::future::ready(())
    }
}

/// Bytes on an HTTP connection: hyper's parser with the server's limits, then routing, path
/// ids, the query string, proxy headers and the JSON body.
pub fn rest_request(data: &[u8]) {
    crate::api::fuzz::connection(data);
}

/// A message search `q`, a snippet with hit marks, a page cursor.
pub fn search_query(data: &[u8]) {
    crate::api::fuzz::search_text(&String::from_utf8_lossy(data));
}

/// A configuration file, then (after the first NUL) `PARLEY_*` variables one per line: loading
/// answers a `ConfigError` or a valid configuration whose redacted TOML reads back.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (file, env) = text.split_once('\0').unwrap_or((&text, ""));
    let env: Vec<(String, String)> = env
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    if let Ok(config) = parley_shared::config::Config::load(Some(("fuzz.toml", file)), env, vec![])
    {
        let redacted = config.to_redacted_toml();
        if let Err(error) = redacted.parse::<toml::Table>() {
            panic!("the redacted configuration is not TOML ({error}):\n{redacted}");
        }
    }
}
