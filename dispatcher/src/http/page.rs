//! `GET /` on the control listener: the dashboard as one HTML page.
//!
//! The page is self-contained (inline CSS and script, no CDN, no fonts, no
//! build step) and compiled into the binary, so an operator gets it from the
//! dispatcher alone, offline included. Its script fetches the JSON view at
//! [`api::DASHBOARD`](signpost_shared::api::DASHBOARD) every second — one
//! page of backends, as filtered on screen — and redraws (sparklines are
//! inline SVG built with the DOM); every string from the JSON goes through `textContent`, never
//! `innerHTML`.

use axum::response::IntoResponse;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};

/// The page, as shipped in the binary.
const PAGE: &str = include_str!("dashboard.html");

/// What the page may do: run its own inline script and style, fetch from
/// its own origin, and nothing else (no third-party script, font or frame).
const POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
    style-src 'unsafe-inline'; connect-src 'self'; img-src data:; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /`: the HTML dashboard, never cached, so a reload always gets the
/// page of the running binary.
pub async fn page() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
            (CONTENT_SECURITY_POLICY, POLICY),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (REFERRER_POLICY, "no-referrer"),
        ],
        PAGE,
    )
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use signpost_shared::api;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn the_page_is_self_contained_html_that_polls_the_view() {
        let request = Request::get("/").body(Body::empty()).unwrap();
        let router = Router::new().route("/", get(page));
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers[CACHE_CONTROL], "no-store");
        assert_eq!(headers[CONTENT_SECURITY_POLICY], POLICY);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body = std::str::from_utf8(&body).unwrap();
        assert!(body.starts_with("<!doctype html>"));
        let endpoint = api::DASHBOARD.trim_start_matches('/');
        assert!(body.contains(&format!("const ENDPOINT = \"{endpoint}\";")));
        assert!(body.contains("fetch(query()"));
        assert!(
            body.contains("limit: String(PAGE)"),
            "the page fetches one page"
        );
        // Self-contained: nothing is loaded from elsewhere (the SVG
        // namespace is a name, not a fetch), and no JSON string is ever
        // parsed as HTML.
        let body = body.replace("\"http://www.w3.org/2000/svg\"", "");
        for banned in ["http://", "https://", " src=", "@import", "innerHTML"] {
            assert!(!body.contains(banned), "the page contains {banned:?}");
        }
    }
}
