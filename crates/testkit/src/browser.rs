//! A browser-like HTTP client: keeps cookies, finds CSRF tokens in pages, follows nothing
//! automatically (tests look at redirects themselves).

use std::collections::BTreeMap;

/// A client with a cookie jar, driving the web UI as a person would.
pub struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

/// A response: status, headers, body text.
#[derive(Debug)]
pub struct Page {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body as text.
    pub body: String,
}

impl Page {
    /// The redirect target, if any.
    pub fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Browser {
    /// A browser for the platform at `base`.
    pub fn new(base: &str) -> Browser {
        // No pooled connections: a server that refuses an upload early closes its connection,
        // and a later request must not pick that connection up.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        Browser {
            base: base.trim_end_matches('/').to_string(),
            client,
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, headers: &reqwest::header::HeaderMap) {
        for value in headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            let pair = value.split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() || value.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_string(), v.to_string());
                }
            }
        }
    }

    async fn finish(&mut self, response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        self.keep_cookies(&headers);
        let body = response.text().await.unwrap_or_default();
        Page {
            status,
            headers,
            body,
        }
    }

    /// GET a path.
    pub async fn get(&mut self, path: &str) -> Page {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.finish(r).await
    }

    /// GET a path and keep the body as bytes (downloads): status, headers, body.
    pub async fn get_bytes(&mut self, path: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("GET");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        self.keep_cookies(&headers);
        let body = r.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        (status, headers, body)
    }

    /// POST a form as is (no token added).
    pub async fn post_raw(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .expect("POST");
        self.finish(r).await
    }

    /// The CSRF token of the current session, read from a page as a person's browser would.
    pub async fn csrf(&mut self) -> String {
        let page = self.get("/").await;
        extract_csrf(&page.body).expect("a CSRF token on the front page")
    }

    /// POST a form with this session's CSRF token added.
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let token = self.csrf().await;
        let mut fields = vec![("csrf", token.as_str())];
        fields.extend_from_slice(form);
        self.post_raw(path, &fields).await
    }

    /// POST a multipart form (fields, then an optional file) with the CSRF token first.
    pub async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: Option<(&str, &str, Vec<u8>)>,
    ) -> Page {
        let token = self.csrf().await;
        let mut form = reqwest::multipart::Form::new().text("csrf", token);
        for (k, v) in fields {
            form = form.text(k.to_string(), v.to_string());
        }
        if let Some((field, filename, bytes)) = file {
            form = form.part(
                field.to_string(),
                reqwest::multipart::Part::bytes(bytes).file_name(filename.to_string()),
            );
        }
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .multipart(form)
            .send()
            .await
            .expect("POST multipart");
        self.finish(r).await
    }

    /// Logs in through the login form; returns the response status (303 on success).
    pub async fn login(&mut self, username: &str, password: &str) -> u16 {
        let page = self.get("/login").await;
        let token = extract_csrf(&page.body).expect("a CSRF token on the login page");
        self.post_raw(
            "/login",
            &[
                ("csrf", &token),
                ("username", username),
                ("password", password),
                ("next", "/"),
            ],
        )
        .await
        .status
    }
}

/// Finds `name="csrf" value="…"` in a page.
pub fn extract_csrf(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")?;
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    Some(rest[..rest.find('"')?].to_string())
}
