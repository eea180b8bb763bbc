//! The dashboard: a handful of static files compiled into the binary (no CDN, works offline),
//! served with a strict Content-Security-Policy. Pages are built in the browser from the API,
//! so this module never renders stored values itself.

use axum::extract::Path;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! asset {
    ($path:literal, $content_type:literal) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_str!(concat!("../assets/", $path)),
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("js/app.js", "text/javascript; charset=utf-8"),
    asset!("js/api.js", "text/javascript; charset=utf-8"),
    asset!("js/dom.js", "text/javascript; charset=utf-8"),
    asset!("js/chart.js", "text/javascript; charset=utf-8"),
    asset!("js/login.js", "text/javascript; charset=utf-8"),
    asset!("js/status.js", "text/javascript; charset=utf-8"),
    asset!("js/statistics.js", "text/javascript; charset=utf-8"),
    asset!("js/activity.js", "text/javascript; charset=utf-8"),
    asset!("js/datasets.js", "text/javascript; charset=utf-8"),
    asset!("js/dataset.js", "text/javascript; charset=utf-8"),
    asset!("js/settings-form.js", "text/javascript; charset=utf-8"),
    asset!("js/pipeline.js", "text/javascript; charset=utf-8"),
    asset!("js/dataside.js", "text/javascript; charset=utf-8"),
    asset!("js/query.js", "text/javascript; charset=utf-8"),
    asset!("js/audit.js", "text/javascript; charset=utf-8"),
];

const INDEX: &str = include_str!("../assets/index.html");

/// Scripts and styles only from this origin; `connect-src` stays open because the Query page
/// calls the query service, which may live on another host of the data side.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; connect-src 'self' http: https:; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'";

fn hardened(mut response: Response, cache: &'static str) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Assets change with the binary; revalidating each load is cheap on a control plane.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

pub(crate) async fn index() -> Response {
    hardened(
        ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX).into_response(),
        "no-cache",
    )
}

pub(crate) async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.path == path) {
        Some(asset) => hardened(
            ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response(),
            "no-cache",
        ),
        None => (StatusCode::NOT_FOUND, "no such dashboard file").into_response(),
    }
}

/// The pages of `assets/js/app.js`, which live under `#/...`. A user who types
/// `/statistics` (or follows an address with the `#` lost) is sent to the page itself.
const PAGES: &[&str] = &[
    "login",
    "status",
    "statistics",
    "activity",
    "datasets",
    "dataset",
    "query",
    "audit",
];

/// `GET /{page}[/...]` answers a redirect to `/#/{page}[/...]`; `None` for anything else.
pub(crate) fn page_redirect(method: &Method, uri: &Uri) -> Option<Response> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let path = uri.path().trim_end_matches('/');
    let first = path.trim_start_matches('/').split('/').next()?;
    if !PAGES.contains(&first) {
        return None;
    }
    // The path is already percent-encoded and carries no `#`; it goes into the fragment as is.
    let target = format!("/#{path}");
    let location = HeaderValue::from_str(&target).ok()?;
    Some(hardened(
        (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        "no-cache",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The redirect knows exactly the pages app.js can show.
    #[test]
    fn page_list_matches_the_dashboard_shell() {
        let app = ASSETS
            .iter()
            .find(|a| a.path == "js/app.js")
            .map(|a| a.body)
            .unwrap_or_default();
        let table = app
            .split("const pages = {")
            .nth(1)
            .and_then(|rest| rest.split("};").next())
            .unwrap_or_default();
        let names: Vec<&str> = table
            .lines()
            .filter_map(|line| line.trim().split(':').next())
            .filter(|name| !name.is_empty())
            .collect();
        assert_eq!(names, PAGES);
    }

    #[test]
    fn pages_redirect_into_the_fragment_and_nothing_else_does() {
        let location = |path: &str| {
            let uri: Uri = path.parse().expect("uri");
            page_redirect(&Method::GET, &uri).map(|response| {
                assert_eq!(response.status(), StatusCode::SEE_OTHER);
                response.headers()[header::LOCATION]
                    .to_str()
                    .expect("ascii")
                    .to_owned()
            })
        };
        assert_eq!(location("/statistics").as_deref(), Some("/#/statistics"));
        assert_eq!(location("/query/").as_deref(), Some("/#/query"));
        assert_eq!(
            location("/datasets/acme/fw%20edge/pipeline").as_deref(),
            Some("/#/datasets/acme/fw%20edge/pipeline")
        );
        assert_eq!(location("/api/v1/nope"), None);
        assert_eq!(location("/statisticsx"), None);
        assert_eq!(location("/"), None);
        let post = page_redirect(&Method::POST, &"/status".parse().expect("uri"));
        assert!(post.is_none());
    }

    /// Every module the pages import is served, so a new file cannot be forgotten here.
    #[test]
    fn every_imported_module_is_served() {
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            for line in asset.body.lines() {
                let imported = line
                    .split("from './")
                    .nth(1)
                    .or_else(|| line.split("import('./").nth(1));
                if let Some(rest) = imported {
                    let name = rest.split('\'').next().unwrap_or_default();
                    let path = format!("js/{name}");
                    assert!(
                        ASSETS.iter().any(|a| a.path == path),
                        "{} imports {path}, which is not in ASSETS",
                        asset.path
                    );
                }
            }
        }
        assert!(INDEX.contains("/assets/js/app.js"));
        assert!(INDEX.contains("/assets/app.css"));
    }
}
