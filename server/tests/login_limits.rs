//! Login limits that cannot be turned against a user (issue 19, point 5), on a real server.
//!
//! Clients at different addresses are played through `X-Forwarded-For` (the server trusts it
//! here, `trust_forwarded_for`); the limits are the defaults: 10 attempts a minute from one
//! address with a burst of 20, a failure costing 4; an account waits 1 s after 5 failures from
//! clients without its device token, twice as long after each further one, up to 15 minutes.
//!
//! What is guaranteed, exactly: whatever anyone else tries, a device that has signed in to an
//! account before (it presents the device token it was given) signs in with the right password
//! at once, from any address; its own wrong passwords hold back only itself. A client without a
//! device token waits for the account's back-off (`Retry-After` says how long: at most 15
//! minutes) and for its own address's rate, never for another address's.

mod common;

use common::{PASSWORD, TestApp, TestDb, spawn_app_with};
use taskforce_server::auth::Role;

fn app(db: TestDb) -> TestApp {
    let app = spawn_app_with(db, |c| {
        c.trust_forwarded_for = true;
        c.login_per_address_burst = 20;
        c.login_per_address_per_minute = 10;
    });
    app.create_user("vanphong", Role::MinistryOffice, &[]);
    app.create_user("viettel.a", Role::Member, &[("viettel", false)]);
    app
}

/// One login's answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: serde_json::Value,
}

impl Answer {
    fn device_token(&self) -> String {
        assert_eq!(self.status, 200, "{self:?}");
        self.body["device_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no device token: {self:?}"))
            .to_string()
    }
    /// Refused for a while: the seconds to wait, with the answer's code checked.
    fn wait(&self) -> u64 {
        assert_eq!(self.status, 429, "{self:?}");
        assert_eq!(self.body["error"], "too_many_attempts", "{self:?}");
        let message = self.body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("thử lại") && message.contains("try again"),
            "{message}"
        );
        self.retry_after
            .unwrap_or_else(|| panic!("429 without Retry-After: {self:?}"))
    }
}

fn login(app: &TestApp, from: &str, user: &str, password: &str, device: Option<&str>) -> Answer {
    let mut body = serde_json::json!({ "username": user, "password": password });
    if let Some(d) = device {
        body["device_token"] = d.into();
    }
    let mut resp = common::Http::agent()
        .post(&format!("{}/api/v1/auth/login", app.base))
        .header("X-Forwarded-For", from)
        .send_json(body)
        .unwrap_or_else(|e| panic!("login: {e}"));
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    Answer {
        status: resp.status().as_u16(),
        retry_after,
        body: resp.body_mut().read_json().unwrap_or_default(),
    }
}

/// An attacker with many addresses (a botnet) tries wrong passwords for `user` until `n` of
/// them reached the password check, waiting as `Retry-After` says: the account then waits
/// 2^(n-5) s for clients without its device token.
fn hold_back(app: &TestApp, user: &str, n: u32) {
    fail_times(n, |i| {
        login(
            app,
            &format!("203.0.{}.{}", i / 250, i % 250),
            user,
            "sai!",
            None,
        )
    });
}

/// Attempts (the `i`th from `attempt(i)`, `i` from 1) until `n` of them failed on the password
/// (401), waiting as `Retry-After` says whenever one is refused first.
fn fail_times(n: u32, mut attempt: impl FnMut(u32) -> Answer) {
    let mut failed = 0;
    let mut i = 0;
    while failed < n {
        i += 1;
        let a = attempt(i);
        match a.status {
            401 => failed += 1,
            _ => std::thread::sleep(std::time::Duration::from_secs(a.wait())),
        }
    }
}

#[test]
fn fifty_wrong_passwords_from_many_addresses_do_not_lock_out_a_known_device() {
    let app = app(TestDb::sqlite());
    let phone = login(&app, "198.51.100.9", "vanphong", PASSWORD, None).device_token();
    // The attacker: 50 wrong passwords, each from an address of its own (a botnet), so that
    // only the account's back-off holds them: past the fifth, each waits for it.
    let mut refused = 0u32;
    for i in 0..50 {
        let a = login(
            &app,
            &format!("203.0.113.{i}"),
            "vanphong",
            "sai mật khẩu!",
            None,
        );
        match a.status {
            401 => {}
            429 => refused += 1,
            _ => panic!("{a:?}"),
        }
    }
    assert!(
        refused >= 40,
        "the account's back-off held most of them: {refused}"
    );
    // And more, waiting as told, until the account waits 8 s or more.
    hold_back(&app, "vanphong", (refused + 8).saturating_sub(50));
    // A stranger with the right password waits, and is told how long (at most 15 minutes).
    let wait = login(&app, "192.0.2.1", "vanphong", PASSWORD, None).wait();
    assert!((1..=900).contains(&wait), "Retry-After: {wait}");
    // The known device signs in at once, from its own address and from the attacker's.
    for from in ["198.51.100.9", "203.0.113.7"] {
        let again = login(&app, from, "vanphong", PASSWORD, Some(&phone));
        assert_eq!(again.device_token(), phone, "from {from}");
    }
}

#[test]
fn the_attackers_own_address_is_held_back_and_another_is_not() {
    let app = app(TestDb::sqlite());
    let mut wrong = 0;
    let mut first_wait = None;
    for _ in 0..50 {
        let a = login(&app, "203.0.113.7", "viettel.a", "sai mật khẩu!", None);
        match a.status {
            401 => wrong += 1,
            _ => {
                first_wait.get_or_insert_with(|| a.wait());
            }
        }
    }
    // 20 attempts at once, a failure costs 4: five reached the password check.
    assert_eq!(wrong, 5);
    let wait = first_wait.unwrap_or_else(|| panic!("never refused"));
    assert!((1..=6).contains(&wait), "one attempt of 6 s: {wait}");
    // Five failures: the account waits 1 s for clients without its device token; then a
    // right password from another address passes. The attacker's address still waits.
    let b = login(&app, "198.51.100.9", "viettel.a", PASSWORD, None);
    if b.status == 429 {
        let w = b.wait();
        assert_eq!(w, 1, "{b:?}");
        std::thread::sleep(std::time::Duration::from_secs(w));
        login(&app, "198.51.100.9", "viettel.a", PASSWORD, None).device_token();
    } else {
        b.device_token();
    }
    assert!(login(&app, "203.0.113.7", "viettel.a", PASSWORD, None).wait() >= 1);
}

#[test]
fn spraying_a_hundred_usernames_from_one_address_is_limited() {
    let app = app(TestDb::sqlite());
    let mut reached = 0;
    for i in 0..100 {
        let a = login(&app, "203.0.113.7", &format!("user{i}"), "123456", None);
        match a.status {
            401 => reached += 1,
            _ => assert!((1..=24).contains(&a.wait()), "{a:?}"),
        }
    }
    assert_eq!(
        reached, 5,
        "five names tried, 95 refused before any password check"
    );
    // The same from an IPv6 client: its whole /64 counts as one.
    for i in 0..100 {
        let a = login(
            &app,
            &format!("2001:db8:7:7::{i:x}"),
            &format!("user{i}"),
            "x",
            None,
        );
        if a.status == 401 {
            reached += 1;
        }
    }
    assert_eq!(reached, 10);
    login(&app, "198.51.100.9", "viettel.a", PASSWORD, None).device_token();
}

#[test]
fn case_and_space_variants_of_a_name_are_one_account_and_count_together() {
    let app = app(TestDb::sqlite());
    let token = login(&app, "198.51.100.1", " Viettel.A ", PASSWORD, None).device_token();
    for (i, name) in [
        "Viettel.A",
        " viettel.a",
        "VIETTEL.A ",
        "viettel.a",
        "ViEtTeL.a",
    ]
    .into_iter()
    .enumerate()
    {
        let a = login(&app, &format!("203.0.113.{i}"), name, "sai mật khẩu!", None);
        assert_eq!(a.status, 401, "{name:?}: {a:?}");
    }
    // Three more failures under yet other variants, waiting as told: eight in all on the one
    // account, which then waits 8 s (five failures on one name, and the others' on theirs,
    // would let the right password in at once).
    let more = ["\tViettel.a", "VIETTEL.A\t", " viettel.A "];
    fail_times(3, |i| {
        let name = more[usize::try_from(i - 1).unwrap_or(0) % more.len()];
        login(&app, &format!("203.0.114.{i}"), name, "sai mật khẩu!", None)
    });
    let refused = login(&app, "192.0.2.1", "VIETTEL.a", PASSWORD, None);
    assert!((1..=8).contains(&refused.wait()), "{refused:?}");
    // The device token names the account, whatever case it is typed in.
    let again = login(&app, "192.0.2.1", "\tviettel.A", PASSWORD, Some(&token));
    assert_eq!(again.device_token(), token);
}

#[test]
fn a_known_devices_wrong_passwords_hold_back_that_device_only() {
    let app = app(TestDb::sqlite());
    let mine = login(&app, "198.51.100.1", "viettel.a", PASSWORD, None).device_token();
    let other = login(&app, "198.51.100.2", "viettel.a", PASSWORD, None).device_token();
    for i in 0..5 {
        let a = login(
            &app,
            &format!("203.0.113.{i}"),
            "viettel.a",
            "sai!",
            Some(&mine),
        );
        assert_eq!(a.status, 401, "{a:?}");
    }
    // Three more, waiting as told: the device then waits 8 s, long enough for what follows.
    fail_times(3, |i| {
        login(
            &app,
            &format!("203.0.114.{i}"),
            "viettel.a",
            "sai!",
            Some(&mine),
        )
    });
    let held = login(&app, "203.0.113.9", "viettel.a", PASSWORD, Some(&mine));
    assert!((1..=8).contains(&held.wait()), "{held:?}");
    login(&app, "198.51.100.2", "viettel.a", PASSWORD, Some(&other)).device_token();
    login(&app, "198.51.100.3", "viettel.a", PASSWORD, None).device_token();
    // A device token for another account, or altered, is no device token.
    let forged = mine.replacen("viettel.a", "vanphong", 1);
    for t in [mine.as_str(), forged.as_str()] {
        let a = login(&app, "198.51.100.4", "vanphong", "sai!", Some(t));
        assert_eq!(a.status, 401, "{a:?}");
    }
}

/// Two replicas on one database sign device tokens with the key stored there, so a token
/// one gave is known to the other.
fn replicas_share_the_device_token_key(db: TestDb) {
    let app = app(db);
    let token = login(&app, "198.51.100.1", "viettel.a", PASSWORD, None).device_token();
    let other = app.other_server();
    let mut resp = common::Http::agent()
        .post(&format!("{}/api/v1/auth/login", other.base))
        .send_json(serde_json::json!({
            "username": "viettel.a", "password": PASSWORD, "device_token": token }))
        .unwrap_or_else(|e| panic!("login: {e}"));
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.body_mut().read_json().unwrap_or_default();
    assert_eq!(
        body["device_token"],
        token.as_str(),
        "known: the same token back"
    );
    assert_eq!(
        app.query_i64("SELECT COUNT(*) FROM settings WHERE name = 'login_secret'"),
        1
    );
}

/// The phone client keeps its device token and signs in with it while the account is held
/// back for everyone else.
#[test]
fn the_phone_client_signs_in_while_strangers_are_held_back() {
    let app = app(TestDb::sqlite());
    let phone = taskforce_core::client::Client::in_memory().unwrap_or_else(|e| panic!("{e}"));
    phone
        .login(&app.base, "viettel.a", PASSWORD, "điện thoại", None)
        .unwrap_or_else(|e| panic!("first login: {e}"));
    assert!(phone.device_token().ok().flatten().is_some());
    hold_back(&app, "viettel.a", 8);
    assert!(login(&app, "192.0.2.1", "viettel.a", PASSWORD, None).wait() >= 1);
    phone.logout().unwrap_or_else(|e| panic!("{e}"));
    phone
        .login(&app.base, "viettel.a", PASSWORD, "điện thoại", None)
        .unwrap_or_else(|e| panic!("a known phone is let in: {e}"));
}

/// A dashboard sign-in from `from`: the status, `Retry-After`, and the cookies set.
fn dashboard_login(
    app: &TestApp,
    from: &str,
    password: &str,
    device: Option<&str>,
) -> (u16, Option<u64>, Vec<String>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut cookie = "tf_csrf=c5rf".to_string();
    if let Some(d) = device {
        cookie.push_str(&format!("; tf_device={d}"));
    }
    let resp = agent
        .post(&format!("{}/login", app.base))
        .header("X-Forwarded-For", from)
        .header("Cookie", &cookie)
        .send_form([
            ("username", "vanphong"),
            ("password", password),
            ("csrf", "c5rf"),
        ])
        .unwrap_or_else(|e| panic!("dashboard login: {e}"));
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let cookies = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    (resp.status().as_u16(), retry, cookies)
}

#[test]
fn the_dashboard_keeps_a_device_cookie_that_lets_its_browser_in() {
    let app = app(TestDb::sqlite());
    let (status, _, cookies) = dashboard_login(&app, "198.51.100.1", PASSWORD, None);
    assert_eq!(status, 303, "{cookies:?}");
    let device = cookies
        .iter()
        .find(|c| c.starts_with("tf_device="))
        .unwrap_or_else(|| panic!("no device cookie: {cookies:?}"));
    assert!(
        device.contains("HttpOnly") && device.contains("SameSite=Strict"),
        "{device}"
    );
    assert!(
        device.contains("Max-Age="),
        "kept across browser restarts: {device}"
    );
    let value = device
        .trim_start_matches("tf_device=")
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    // The dashboard and the API share the limits and the device tokens.
    hold_back(&app, "vanphong", 8);
    let (status, retry, _) = dashboard_login(&app, "192.0.2.1", PASSWORD, None);
    assert_eq!(status, 429);
    assert!(retry.is_some_and(|r| r >= 1), "{retry:?}");
    let (status, _, cookies) = dashboard_login(&app, "192.0.2.1", PASSWORD, Some(&value));
    assert_eq!(
        status, 303,
        "the browser that signed in before: {cookies:?}"
    );
    assert_eq!(
        login(&app, "192.0.2.2", "vanphong", PASSWORD, Some(&value)).status,
        200
    );
}

on_every_store!(replicas_share_the_device_token_key);
