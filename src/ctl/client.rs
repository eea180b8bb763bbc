//! HTTP to the control plane's `/api/v1`: authentication on every request, and the server's
//! `{"error": ...}` turned into one message that says what was refused and what to do.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::session::SavedSession;

/// Cookie and header names the control plane's session login uses.
const SESSION_COOKIE: &str = "__Host-bf_session";
const CSRF_HEADER: &str = "x-csrf-token";
/// Error bodies that are not the API's JSON are quoted up to this many characters.
const MAX_QUOTED_BODY: usize = 200;

/// How requests prove who is calling.
pub enum Auth {
    ApiKey(String),
    /// The cookie and CSRF token saved by `ctl login`.
    Session(SavedSession),
    /// Only `auth/login` answers without either.
    Anonymous,
}

pub struct Client {
    http: reqwest::Client,
    base: Url,
    auth: Auth,
}

/// A successful answer: the body as JSON (`Null` for 204 No Content) and the headers.
pub struct Reply {
    pub headers: HeaderMap,
    pub body: Value,
}

impl Client {
    pub fn new(url: &str, auth: Auth) -> Result<Client> {
        let base = Url::parse(url)
            .ok()
            .filter(|base| matches!(base.scheme(), "http" | "https") && base.has_host())
            .with_context(|| {
                format!("--url {url:?}: not an http(s) address such as http://127.0.0.1:8000")
            })?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("bytefreezer-ctl/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Client { http, base, auth })
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    pub async fn get(&self, path: &[&str], query: &[(&str, String)]) -> Result<Value> {
        Ok(self.request(Method::GET, path, query, None).await?.body)
    }

    /// `body` is one of the API's request types (`bytefreezer_api::rest`), so what `ctl`
    /// sends is what the server decodes.
    pub async fn post(&self, path: &[&str], body: &impl Serialize) -> Result<Value> {
        let body = request_body(body)?;
        Ok(self
            .request(Method::POST, path, &[], Some(&body))
            .await?
            .body)
    }

    /// A `POST` that carries no body (pause, resume, logout).
    pub async fn post_empty(&self, path: &[&str]) -> Result<Value> {
        Ok(self.request(Method::POST, path, &[], None).await?.body)
    }

    pub async fn put(&self, path: &[&str], body: &impl Serialize) -> Result<Value> {
        let body = request_body(body)?;
        Ok(self
            .request(Method::PUT, path, &[], Some(&body))
            .await?
            .body)
    }

    pub async fn delete(&self, path: &[&str]) -> Result<Value> {
        Ok(self.request(Method::DELETE, path, &[], None).await?.body)
    }

    /// `path` is the segments after `/api/v1`, each percent-encoded as needed.
    pub async fn request(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Reply> {
        let url = self.url(path, query)?;
        let mut request = self.http.request(method.clone(), url.clone());
        request = match &self.auth {
            Auth::ApiKey(key) => request.bearer_auth(key),
            Auth::Session(session) => {
                let request = request.header(
                    header::COOKIE,
                    format!("{SESSION_COOKIE}={}", session.token),
                );
                if method == Method::GET {
                    request
                } else {
                    request.header(CSRF_HEADER, &session.csrf_token)
                }
            }
            Auth::Anonymous => request,
        };
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|error| {
            anyhow::anyhow!(
                "cannot reach the control plane at {}: {}; is it running, and is --url (or \
                 BYTEFREEZER_URL) right?",
                self.base,
                error_chain(&error)
            )
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("{method} {}: the answer broke off", url.path()))?;
        if !status.is_success() {
            bail!(
                "the control plane refused {method} {}: {status}: {}{}",
                url.path(),
                error_message(&bytes),
                self.hint(status)
            );
        }
        if status == StatusCode::NO_CONTENT || bytes.is_empty() {
            return Ok(Reply {
                headers,
                body: Value::Null,
            });
        }
        let body = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{method} {}: the answer is not JSON ({}); is --url a bytefreezer control plane?",
                url.path(),
                quote(&bytes)
            )
        })?;
        Ok(Reply { headers, body })
    }

    fn url(&self, path: &[&str], query: &[(&str, String)]) -> Result<Url> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| anyhow::anyhow!("--url {}: cannot hold a path", self.base))?
            .pop_if_empty()
            .extend(["api", "v1"])
            .extend(path);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(key, value)| (key, value)));
        }
        Ok(url)
    }

    /// What to do about a refusal that is about the credentials rather than the request.
    fn hint(&self, status: StatusCode) -> &'static str {
        match (&self.auth, status) {
            (Auth::ApiKey(_), StatusCode::UNAUTHORIZED) => {
                " (the API key is unknown or revoked; check --api-key or BYTEFREEZER_API_KEY)"
            }
            (Auth::Session(_), StatusCode::UNAUTHORIZED) => {
                " (the saved session has ended; run `bytefreezer ctl login --email EMAIL` again)"
            }
            _ => "",
        }
    }
}

pub fn request_body(body: &impl Serialize) -> Result<Value> {
    serde_json::to_value(body).context("cannot encode the request as JSON")
}

/// An answer as the API type the server encoded it with. Unknown fields are ignored, so a
/// newer server that adds one still works; a missing or retyped one is an error naming `what`.
pub fn answer<T: DeserializeOwned>(body: &Value, what: &str) -> Result<T> {
    T::deserialize(body).with_context(|| {
        format!(
            "the control plane's answer to {what} is not what this ctl expects; is one of them \
             older than the other?"
        )
    })
}

/// The value of the `bf_session` cookie a login answer sets.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next()?.trim().split_once('='))
        .find(|(name, value)| *name == SESSION_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

/// The API's `error` (which already names the field, if any), or a quote of whatever came back.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| value.get("error")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| {
            if body.is_empty() {
                "no details given".to_owned()
            } else {
                quote(body)
            }
        })
}

fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(MAX_QUOTED_BODY) {
        Some((end, _)) => format!("{:?}…", &text[..end]),
        None => format!("{text:?}"),
    }
}

/// reqwest's top-level message alone ("error sending request") hides the cause.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_read_from_set_cookie() {
        let mut headers = HeaderMap::new();
        headers.append(header::SET_COOKIE, "other=1; Path=/".parse().unwrap());
        headers.append(
            header::SET_COOKIE,
            "__Host-bf_session=abc123; Path=/; HttpOnly; Secure; SameSite=Strict"
                .parse()
                .unwrap(),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("abc123"));
        assert_eq!(session_cookie(&HeaderMap::new()), None);
    }

    #[test]
    fn error_messages_prefer_the_api_error_and_quote_anything_else() {
        assert_eq!(
            error_message(br#"{"error":"name: required","field":"name"}"#),
            "name: required"
        );
        assert_eq!(error_message(b"Bad Gateway\n"), "\"Bad Gateway\"");
        assert_eq!(error_message(b""), "no details given");
        assert!(error_message("x".repeat(1000).as_bytes()).ends_with('…'));
    }

    #[test]
    fn paths_are_encoded_segments_under_api_v1() {
        let client = Client::new("http://example.com/control/", Auth::Anonymous).unwrap();
        let url = client
            .url(&["tenants", "a/b", "datasets"], &[("limit", "5".into())])
            .unwrap();
        assert_eq!(
            url.as_str(),
            "http://example.com/control/api/v1/tenants/a%2Fb/datasets?limit=5"
        );
        assert!(Client::new("127.0.0.1:8000", Auth::Anonymous).is_err());
    }
}
