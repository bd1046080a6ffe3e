//! criterion micro-benchmarks of the per-message CPU work: parsing a client `message:send` frame
//! (simd-json, in place), encoding the server frames, one shard's fan-out of a committed message
//! to N local connections, and building the persister's batch parameter arrays.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use parley_gateway::hot;
use parley_persister::store::messages::Message;
use parley_persister::writer::NewMessage;
use parley_persister::writer::hot::build_columns;
use parley_shared::{ConversationId, MessageId, UserId};

const SEND: &str = r#"{"event":"message:send","id":"42","data":{"conversationId":"conv_0192b3c4d5e6f70812345678abcdef01","clientMessageId":"c-7f3a-91b2","content":"hello there, this is a chat message of typical length","contentType":"text","replyTo":null}}"#;

fn message() -> Message {
    Message {
        id: MessageId::generate(),
        conversation_id: ConversationId::generate(),
        sender_id: UserId::generate(),
        seq: 123_456,
        client_message_id: "c-7f3a-91b2".to_owned(),
        content: "hello there, this is a chat message of typical length".to_owned(),
        content_type: "text".to_owned(),
        reply_to: None,
        created_at: time::OffsetDateTime::UNIX_EPOCH,
        edited_at: None,
        deleted_at: None,
        mentions: Vec::new(),
        mention_everyone: false,
        urgent: false,
        attachments: None,
    }
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse message:send", |b| {
        b.iter_batched_ref(
            || SEND.as_bytes().to_vec(),
            |buf| black_box(hot::parse_frame(buf)),
            BatchSize::SmallInput,
        );
    });
    let stored = message();
    group.bench_function("encode message object", |b| {
        b.iter(|| black_box(hot::message_json(&stored)));
    });
    let json = hot::message_json(&stored);
    group.bench_function("encode message:received", |b| {
        b.iter(|| black_box(hot::encode_received(&json)));
    });
    group.bench_function("encode message:sent", |b| {
        b.iter(|| black_box(hot::encode_sent("c-7f3a-91b2", &json)));
    });
    group.finish();
}

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout to local connections");
    let received = hot::encode_received(&hot::message_json(&message()));
    for n in [10usize, 100, 1000] {
        let shard = hot::LocalFanout::new(n);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("{n} recipients"), |b| {
            b.iter(|| black_box(shard.deliver(&received)));
        });
    }
    group.finish();
}

fn batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("persister batch columns");
    let conversations: Vec<ConversationId> = (0..10).map(|_| ConversationId::generate()).collect();
    for n in [1usize, 16, 256] {
        let messages: Vec<NewMessage> = (0..n)
            .map(|i| NewMessage {
                id: MessageId::generate(),
                conversation_id: conversations[i % conversations.len()],
                sender_id: UserId::generate(),
                client_message_id: format!("k{i}"),
                content: "hello there, this is a chat message of typical length".to_owned(),
                content_type: "text".to_owned(),
                reply_to: None,
                mentions: Default::default(),
                urgent: false,
                attachments: None,
            })
            .collect();
        let refs: Vec<&NewMessage> = messages.iter().collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("{n} sends"), |b| {
            b.iter(|| black_box(build_columns(&refs)));
        });
    }
    group.finish();
}

criterion_group!(benches, codec, fanout, batch);
criterion_main!(benches);
