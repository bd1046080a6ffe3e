//! Behind a reverse proxy: the client address comes from `X-Forwarded-For` / `Forwarded` only when
//! the peer is a trusted proxy, so limits count per client there and per peer everywhere else.

use parley_testkit::{TestGateway, http};
use serde_json::json;

async fn register_via(
    gw: &TestGateway,
    name: &str,
    forwarded: (&str, &str),
) -> anyhow::Result<u16> {
    let body = json!({"username": name, "password": "password123"});
    let response = http::request(
        gw.addr(),
        hyper::Method::POST,
        "/api/auth/register",
        &[forwarded],
        Some(&body),
    )
    .await?;
    Ok(response.status.as_u16())
}

#[tokio::test]
async fn limits_count_per_client_through_a_trusted_proxy_and_per_peer_otherwise()
-> anyhow::Result<()> {
    let trusted = TestGateway::start_with(|c| {
        c.limits.register = "1/1h".parse().expect("rate");
        c.server.trusted_proxies = vec!["127.0.0.1".parse().expect("cidr")];
    })
    .await?;
    let xff = "x-forwarded-for";
    assert_eq!(
        register_via(&trusted, "px_a1", (xff, "198.51.100.1")).await?,
        201
    );
    assert_eq!(
        register_via(&trusted, "px_a2", (xff, "198.51.100.1")).await?,
        429,
        "the same client again"
    );
    assert_eq!(
        register_via(&trusted, "px_b1", (xff, "198.51.100.2")).await?,
        201,
        "another client behind the same proxy"
    );
    assert_eq!(
        register_via(
            &trusted,
            "px_c1",
            ("forwarded", "for=\"[2001:db8::7]:443\"")
        )
        .await?,
        201,
        "RFC 7239 Forwarded"
    );
    // A client prepending an address of its own choosing gains nothing.
    assert_eq!(
        register_via(&trusted, "px_a3", (xff, "203.0.113.99, 198.51.100.1")).await?,
        429
    );

    // The same headers from a peer that is not a trusted proxy are ignored.
    let untrusted = TestGateway::start_with(|c| {
        c.limits.register = "1/1h".parse().expect("rate");
        c.server.trusted_proxies = vec!["10.0.0.0/8".parse().expect("cidr")];
    })
    .await?;
    assert_eq!(
        register_via(&untrusted, "un_a1", (xff, "198.51.100.1")).await?,
        201
    );
    assert_eq!(
        register_via(&untrusted, "un_b1", (xff, "198.51.100.2")).await?,
        429,
        "limited per peer: the header is not believed"
    );
    Ok(())
}
