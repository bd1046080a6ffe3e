//! Notification preferences over REST against PostgreSQL: a member's level and mute per
//! conversation (defaults, changes, validation, 404 for a non-member) and the caller's
//! do-not-disturb schedule (wrapping windows, time zones, whether it covers now), every answer
//! checked against the OpenAPI document.

use hyper::Method;
use parley_shared::time::format_timestamp;
use parley_testkit::TestGateway;
use parley_testkit::api::check_schema;
use serde_json::{Value, json};
use time::OffsetDateTime;

fn hh_mm(minute: i64) -> String {
    let minute = minute.rem_euclid(1440);
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

#[tokio::test]
async fn conversation_levels_and_mutes() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let doc: Value = gw.get("/api/openapi.json").await?.body;
    let ann = api.register("pref_ann").await?;
    let ben = api.register("pref_ben").await?;
    let eve = api.register("pref_eve").await?;
    let group = api.group(&ann, "Design", &[&ben]).await?;
    let path = format!("/api/conversations/{group}/notifications");

    let fresh = api.get(&path, Some(&ben)).await?;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    check_schema(&doc, "ConversationNotifications", &fresh.body["data"])
        .map_err(anyhow::Error::msg)?;
    assert_eq!(
        fresh.body["data"],
        json!({"level": "all", "mutedUntil": null, "muted": false})
    );

    let hour = format_timestamp(OffsetDateTime::now_utc() + time::Duration::hours(1));
    let put = api
        .put(
            &path,
            Some(&ben),
            &json!({"level": "mentions", "mutedUntil": hour}),
        )
        .await?;
    assert_eq!(put.status, 200, "{}", put.body);
    check_schema(&doc, "ConversationNotifications", &put.body["data"])
        .map_err(anyhow::Error::msg)?;
    let read = api.get(&path, Some(&ben)).await?;
    assert_eq!(read.body["data"]["level"], "mentions");
    assert_eq!(read.body["data"]["muted"], true);
    // The conversation itself carries them, in the list and alone (ann's are the defaults).
    let listed = api.get("/api/conversations", Some(&ben)).await?;
    let mine = &listed.body["data"][0]["notifications"];
    assert_eq!(
        (mine["level"].as_str(), mine["muted"].as_bool()),
        (Some("mentions"), Some(true))
    );
    let conversation_path = path.trim_end_matches("/notifications").to_owned();
    let one = api.get(&conversation_path, Some(&ben)).await?;
    assert_eq!(one.body["data"]["notifications"], read.body["data"]);
    let theirs = api.get(&conversation_path, Some(&ann)).await?;
    assert_eq!(theirs.body["data"]["notifications"]["level"], "all");
    // Each member has their own: ann's are untouched.
    assert_eq!(
        api.get(&path, Some(&ann)).await?.body["data"]["level"],
        "all"
    );

    // A mute that has ended is no mute; back to the defaults.
    let past = api
        .put(
            &path,
            Some(&ben),
            &json!({"level": "off", "mutedUntil": "2020-01-01T00:00:00Z"}),
        )
        .await?;
    assert_eq!(put.status, 200, "{}", past.body);
    assert_eq!(
        past.body["data"],
        json!({"level": "off", "mutedUntil": null, "muted": false})
    );
    let reset = api.put(&path, Some(&ben), &json!({"level": "all"})).await?;
    assert_eq!(reset.body["data"], fresh.body["data"]);

    for (body, field) in [
        (json!({"level": "loud"}), "level"),
        (
            json!({"level": "all", "mutedUntil": "tomorrow"}),
            "mutedUntil",
        ),
    ] {
        let refused = api.put(&path, Some(&ben), &body).await?;
        assert_eq!(refused.status, 400, "{body}: {}", refused.body);
        assert_eq!(refused.body["error"]["code"], "VALIDATION_ERROR");
        assert!(
            refused.body["error"]["details"][field].is_array(),
            "{}",
            refused.body
        );
    }
    let unknown = api
        .put(&path, Some(&ben), &json!({"level": "all", "volume": 11}))
        .await?;
    assert_eq!(unknown.status, 400, "{}", unknown.body);

    // A non-member gets what a missing conversation gets.
    for method in [Method::GET, Method::PUT] {
        let hidden = api
            .send(
                method.clone(),
                &path,
                Some(&eve),
                Some(&json!({"level": "off"})),
            )
            .await?;
        assert_eq!(hidden.status, 404, "{method}: {}", hidden.body);
    }
    Ok(())
}

#[tokio::test]
async fn do_not_disturb_schedules() -> anyhow::Result<()> {
    let gw = TestGateway::start().await?;
    let api = gw.api();
    let doc: Value = gw.get("/api/openapi.json").await?.body;
    let kim = api.register("pref_kim").await?;
    let path = "/api/users/me/notifications";

    let none = api.get(path, Some(&kim)).await?;
    assert_eq!(none.status, 200, "{}", none.body);
    check_schema(&doc, "UserNotifications", &none.body["data"]).map_err(anyhow::Error::msg)?;
    assert_eq!(
        none.body["data"],
        json!({"dndSchedule": null, "inDndNow": false})
    );

    // A window around this minute (wrapping past midnight when it must) covers now; one an hour
    // ahead does not.
    let now = OffsetDateTime::now_utc();
    let minute = i64::from(now.hour()) * 60 + i64::from(now.minute());
    for (start, end, covered) in [
        (minute - 10, minute + 10, true),
        (minute + 60, minute + 120, false),
        (minute + 120, minute + 60, true),
    ] {
        let schedule = json!({"start": hh_mm(start), "end": hh_mm(end), "timeZone": "UTC"});
        let set = api
            .put(path, Some(&kim), &json!({"dndSchedule": schedule}))
            .await?;
        assert_eq!(set.status, 200, "{}", set.body);
        check_schema(&doc, "UserNotifications", &set.body["data"]).map_err(anyhow::Error::msg)?;
        assert_eq!(set.body["data"]["dndSchedule"], schedule);
        assert_eq!(set.body["data"]["inDndNow"], covered, "{schedule}");
    }
    let berlin = json!({"start": "22:00", "end": "07:00", "timeZone": "Europe/Berlin"});
    let set = api
        .put(path, Some(&kim), &json!({"dndSchedule": berlin}))
        .await?;
    assert_eq!(
        api.get(path, Some(&kim)).await?.body["data"]["dndSchedule"],
        berlin,
        "{}",
        set.body
    );

    for (schedule, field) in [
        (
            json!({"start": "25:00", "end": "07:00", "timeZone": "UTC"}),
            "dndSchedule.start",
        ),
        (
            json!({"start": "07:00", "end": "07:00", "timeZone": "UTC"}),
            "dndSchedule.end",
        ),
        (
            json!({"start": "22:00", "end": "07:00", "timeZone": "Mars/Olympus"}),
            "dndSchedule.timeZone",
        ),
    ] {
        let refused = api
            .put(path, Some(&kim), &json!({"dndSchedule": schedule}))
            .await?;
        assert_eq!(refused.status, 400, "{schedule}: {}", refused.body);
        assert!(
            refused.body["error"]["details"][field].is_array(),
            "{}",
            refused.body
        );
    }
    // The refused changes left the schedule as it was; null clears it.
    assert_eq!(
        api.get(path, Some(&kim)).await?.body["data"]["dndSchedule"],
        berlin
    );
    let cleared = api
        .put(path, Some(&kim), &json!({"dndSchedule": null}))
        .await?;
    assert_eq!(cleared.body["data"], none.body["data"]);
    Ok(())
}
