//! A browser's view of the dashboard for the tests: an agent that neither follows
//! redirects nor treats error statuses as failures, and an answer's status, headers and body.

/// An agent that shows every status and redirect as it came.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// A response's status, headers and body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn of(mut resp: ureq::http::Response<ureq::Body>) -> Self {
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        Answer {
            status: resp.status().as_u16(),
            headers,
            body: resp.body_mut().read_to_string().unwrap_or_default(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `Set-Cookie` line of one cookie.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.as_str())
            .find(|v| v.starts_with(&format!("{name}=")))
    }

    /// `name=value` of the `Set-Cookie` line of one cookie.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookie(name)
            .map(|v| v.split(';').next().unwrap_or_default().to_string())
    }
}

/// `GET path` with the cookies a browser holds (`name=value; …`, or empty).
pub fn get(app: &super::Http, cookie: &str, path: &str) -> Answer {
    let req = agent()
        .get(&format!("{}{path}", app.base))
        .header("Cookie", cookie);
    Answer::of(req.call().unwrap_or_else(|e| panic!("GET {path}: {e}")))
}

/// A form posted to `path` from this server's origin, with the browser's cookies.
pub fn post_form(app: &super::Http, cookie: &str, path: &str, form: &[(&str, &str)]) -> Answer {
    let req = agent()
        .post(&format!("{}{path}", app.base))
        .header("Cookie", cookie)
        .header("Origin", &app.base);
    Answer::of(
        req.send_form(form.iter().copied())
            .unwrap_or_else(|e| panic!("POST {path}: {e}")),
    )
}

/// The `value` of the first field `name` of a page's forms after `from`.
pub fn field_after(html: &str, from: &str, name: &str) -> Option<String> {
    let start = html.find(from)?;
    let key = format!("name=\"{name}\" value=\"");
    let at = html[start..].find(&key)? + start + key.len();
    let rest = &html[at..];
    Some(rest[..rest.find('"')?].to_string())
}

/// The sign-in form fetched, then posted from this server's origin: the session cookie.
pub fn sign_in(app: &super::Http, user: &str) -> String {
    let form = get(app, "", "/login");
    let csrf = field_after(&form.body, "<form", "csrf").unwrap_or_default();
    let pre = form.cookie("tf_csrf").unwrap_or_default();
    let done = post_form(
        app,
        &pre,
        "/login",
        &[
            ("username", user),
            ("password", super::PASSWORD),
            ("csrf", &csrf),
        ],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    done.cookie("tf_token")
        .unwrap_or_else(|| panic!("no session cookie"))
}
