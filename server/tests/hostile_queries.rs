//! Query strings schemathesis made (`ops/schemathesis.sh`, issue 19 point 8) that the API
//! must answer, on SQLite and PostgreSQL: a page far past the last one is an empty page (or a
//! 400), never a panic that drops the connection.

mod common;

use common::*;
use taskforce_server::auth::Role;

/// Found by schemathesis: `page × per_page` past `i64::MAX` reached the database as an
/// offset it cannot bind, and the handler panicked (sea-query's `u64 → i64` conversion).
fn a_page_far_past_the_last_is_answered(db: TestDb) {
    let app = spawn_app(db);
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    let office = app.token("vanphong");
    for query in [
        "page=3159914984074213888&per_page=128507559",
        "page=18446744073709551615&per_page=500",
        "page=9223372036854775807&per_page=2",
    ] {
        let (status, body) = app.get(&office, &format!("/api/v1/users?{query}"));
        match status {
            200 => assert_eq!(body["users"], serde_json::json!([]), "{query}: {body}"),
            400 => assert_eq!(body["error"], "bad_request", "{query}: {body}"),
            _ => panic!("{query}: {status} {body}"),
        }
    }
    // The server still answers.
    let (status, _) = app.get(&office, "/api/v1/users");
    assert_eq!(status, 200);
}

on_every_store!(a_page_far_past_the_last_is_answered);
