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
