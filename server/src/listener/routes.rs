//! Every path the server answers, in one table: the binary cache at the root, the JSON API
//! under `/api/v1/`, the status pages (`/`, `/jobs/{id}`, their `/assets/…`) and `/metrics`.
//! A path is parsed into a `Route` once; the table then picks the handler by route and
//! method (a known path with another method is `405`). API errors are JSON, the others plain
//! text. Every cache response is counted here, in one place, for `/metrics`. Handlers know
//! nothing of routing.

use hyper::body::Incoming;
use hyper::{Method, Request, Response};

use super::Context;
use crate::api;
use crate::builds::webhooks::Forge;
use crate::cache::upload::{self, put_log, put_nar, put_narinfo};
use crate::cache::{get_cache_info, get_log, get_nar, get_narinfo, pushed_serve};
use crate::http::body::Body;
use crate::http::response::{HttpError, HttpResult, error_response};
use crate::metrics::counters::CacheKind;
use crate::metrics::scrape;
use crate::pages::{self, Site};
use crate::tokens::Scope;

/// A path the server knows, with what it names.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Home,
    JobPage(&'a str),
    Asset(&'a str),
    Metrics,
    CacheInfo,
    Narinfo(&'a str),
    Nar(&'a str),
    Log(&'a str),
    Health,
    Status,
    Jobs,
    Job(&'a str),
    JobLog(&'a str),
    JobCancel(&'a str),
    Hosts,
    Host(&'a str),
    HostReport(&'a str),
    HostPin(&'a str),
    HostRetry(&'a str),
    FleetPin,
    Token,
    /// `/api/v1/paths/<hash part or store path>`.
    Path(&'a str),
    Webhook(Forge),
    /// No such path (`api`: under `/api/`, answered in JSON).
    Unknown {
        api: bool,
    },
}

impl Route<'_> {
    fn parse(path: &str) -> Route<'_> {
        if let Some(wanted) = path.strip_prefix("/api/v1/paths/") {
            return Route::Path(wanted);
        }
        if let Some(api) = path.strip_prefix("/api/") {
            let segments: Vec<&str> = api.strip_prefix("v1/").unwrap_or("").split('/').collect();
            return match segments.as_slice() {
                ["health"] => Route::Health,
                ["status"] => Route::Status,
                ["jobs"] => Route::Jobs,
                ["jobs", id] => Route::Job(id),
                ["jobs", id, "log"] => Route::JobLog(id),
                ["jobs", id, "cancel"] => Route::JobCancel(id),
                ["hosts"] => Route::Hosts,
                ["hosts", name] => Route::Host(name),
                ["hosts", name, "report"] => Route::HostReport(name),
                ["hosts", name, "pin"] => Route::HostPin(name),
                ["hosts", name, "retry"] => Route::HostRetry(name),
                ["fleet", "pin"] => Route::FleetPin,
                ["token"] => Route::Token,
                ["webhooks", "github"] => Route::Webhook(Forge::GitHub),
                ["webhooks", "forgejo"] => Route::Webhook(Forge::Forgejo),
                _ => Route::Unknown { api: true },
            };
        }
        if path == "/" {
            Route::Home
        } else if path == "/metrics" {
            Route::Metrics
        } else if let Some(id) = path.strip_prefix("/jobs/").filter(|id| !id.contains('/')) {
            Route::JobPage(id)
        } else if let Some(name) = path.strip_prefix("/assets/") {
            Route::Asset(name)
        } else if path == "/nix-cache-info" {
            Route::CacheInfo
        } else if let Some(name) = path.strip_prefix("/nar/") {
            Route::Nar(name)
        } else if let Some(name) = path.strip_prefix("/log/") {
            Route::Log(name)
        } else if let Some(hash) = path
            .strip_prefix('/')
            .and_then(|p| p.strip_suffix(".narinfo"))
        {
            Route::Narinfo(hash)
        } else {
            Route::Unknown { api: false }
        }
    }

    fn is_api(&self) -> bool {
        matches!(
            self,
            Route::Health
                | Route::Status
                | Route::Jobs
                | Route::Job(_)
                | Route::JobLog(_)
                | Route::JobCancel(_)
                | Route::Hosts
                | Route::Host(_)
                | Route::HostReport(_)
                | Route::HostPin(_)
                | Route::HostRetry(_)
                | Route::FleetPin
                | Route::Token
                | Route::Path(_)
                | Route::Webhook(_)
                | Route::Unknown { api: true }
        )
    }

    /// The binary-cache endpoint this is, counted for `/metrics`.
    fn cache_kind(&self) -> Option<CacheKind> {
        match self {
            Route::CacheInfo => Some(CacheKind::CacheInfo),
            Route::Narinfo(_) => Some(CacheKind::Narinfo),
            Route::Nar(_) => Some(CacheKind::Nar),
            Route::Log(_) => Some(CacheKind::Log),
            _ => None,
        }
    }
}

/// Answers one request.
pub(super) async fn route(context: &Context, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_string();
    tracing::debug!("{} {path}", request.method());
    let route = Route::parse(&path);
    let api = route.is_api();
    let head = request.method() == Method::HEAD;
    // Uploads are not reads of the cache: they are counted apart (pushed paths).
    let counted = route
        .cache_kind()
        .filter(|_| head || request.method() == Method::GET);
    let response = dispatch(context, route, request)
        .await
        .unwrap_or_else(|e| error_response(&e, api));
    match counted {
        Some(kind) => context.counters.record(kind, head, response),
        None => response,
    }
}

async fn dispatch(context: &Context, route: Route<'_>, request: Request<Incoming>) -> HttpResult {
    let state = &*context.state;
    let method = request.method().clone();
    let get_or_head = method == Method::GET || method == Method::HEAD;
    let head = method == Method::HEAD;
    let query = request.uri().query().map(str::to_string);
    let query = query.as_deref();
    let cache = &state.cache;
    match (route, method) {
        (Route::CacheInfo, _) if get_or_head => Ok(get_cache_info::respond(cache)),
        (Route::Narinfo(hash), _) if get_or_head => get_narinfo::respond(cache, hash).await,
        (Route::Nar(name), _) if get_or_head && name.starts_with("pushed/") => {
            pushed_serve::nar(cache, &name["pushed/".len()..], request.headers(), head)
        }
        (Route::Nar(name), _) if get_or_head && upload::is_upload_name(name) => {
            put_nar::held(&state.uploads, name)
        }
        (Route::Nar(name), _) if get_or_head => {
            get_nar::respond(cache, name, request.headers(), head).await
        }
        (Route::Log(drv), _) if get_or_head => {
            get_log::respond(cache, drv, head, &state.uploads.logs_dir())
        }
        (Route::Nar(name), Method::PUT) => {
            api::auth::require_scope(state, &request, Scope::Push)?;
            put_nar::respond(&state.uploads, name, request).await
        }
        (Route::Narinfo(hash), Method::PUT) => {
            let caller = api::auth::require_scope(state, &request, Scope::Push)?;
            let started = std::time::Instant::now();
            let accepted =
                put_narinfo::respond(cache, &state.uploads, caller.as_deref(), hash, request)
                    .await?;
            put_narinfo::record(&state.uploads, caller.as_deref(), &accepted);
            if let (put_narinfo::Accepted::Added { .. }, Some(publisher)) =
                (&accepted, &state.publisher)
            {
                publisher.pushed();
            }
            tracing::debug!("narinfo {hash} taken in {:?}", started.elapsed());
            put_narinfo::reply(&accepted)
        }
        (Route::Log(drv), Method::PUT) => {
            api::auth::require_scope(state, &request, Scope::Push)?;
            put_log::respond(&state.uploads, drv, request).await
        }
        (Route::Home, _) if get_or_head => {
            let site = Site::from_request(request.headers(), &context.base_url);
            pages::status_page::respond(state, &site).await
        }
        (Route::JobPage(id), _) if get_or_head => pages::job_page::respond(state, id).await,
        (Route::Asset(name), _) if get_or_head => pages::asset(name),
        (Route::Metrics, _) if get_or_head => scrape::respond(state, &context.counters),
        (Route::Health, Method::GET) => api::status::health(),
        (Route::Status, Method::GET) => api::status::status(state).await,
        (Route::Jobs, Method::GET) => api::jobs::list(state, query).await,
        (Route::Jobs, Method::POST) => {
            api::auth::require_token(state, &request)?;
            api::jobs::create(state, request).await
        }
        (Route::Job(id), Method::GET) => api::jobs::get(state, id, query).await,
        (Route::JobLog(id), Method::GET) => api::jobs::log(state, id, query),
        (Route::JobCancel(id), Method::POST) => {
            api::auth::require_token(state, &request)?;
            api::jobs::cancel(state, id).await
        }
        (Route::Hosts, Method::GET) => api::hosts::list(state).await,
        (Route::Host(name), Method::GET) => api::hosts::get(state, name).await,
        (Route::HostReport(name), Method::POST) => {
            api::auth::require_report(state, &request, name)?;
            api::hosts::report(state, name, request).await
        }
        (Route::Token, Method::GET) => api::token::respond(state, &request),
        (Route::HostPin(name), Method::PUT) => {
            api::auth::require_scope(state, &request, Scope::Deploy)?;
            api::pins::pin(state, name, request).await
        }
        (Route::HostPin(name), Method::DELETE) => {
            api::auth::require_scope(state, &request, Scope::Deploy)?;
            api::pins::unpin(state, name).await
        }
        (Route::HostRetry(name), Method::POST) => {
            api::auth::require_scope(state, &request, Scope::Deploy)?;
            api::pins::retry(state, name).await
        }
        (Route::FleetPin, Method::PUT) => {
            api::auth::require_scope(state, &request, Scope::Deploy)?;
            api::pins::pin_all(state, request).await
        }
        (Route::FleetPin, Method::DELETE) => {
            api::auth::require_scope(state, &request, Scope::Deploy)?;
            api::pins::unpin_all(state).await
        }
        (Route::Path(wanted), Method::GET) => api::paths::get(state, wanted).await,
        (Route::Webhook(forge), Method::POST) => api::webhooks::handle(state, forge, request).await,
        (Route::Unknown { api: true }, _) => {
            Err(HttpError::NotFound("no such API endpoint".into()))
        }
        (Route::Unknown { api: false }, _) => Err(HttpError::NotFound("not found".into())),
        _ => Err(HttpError::MethodNotAllowed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_into_routes() {
        assert_eq!(Route::parse("/"), Route::Home);
        assert_eq!(Route::parse("/jobs/12"), Route::JobPage("12"));
        assert_eq!(Route::parse("/jobs/12/x"), Route::Unknown { api: false });
        assert_eq!(Route::parse("/assets/live.js"), Route::Asset("live.js"));
        assert_eq!(Route::parse("/metrics"), Route::Metrics);
        assert_eq!(
            Route::parse("/x.narinfo").cache_kind(),
            Some(CacheKind::Narinfo)
        );
        assert_eq!(Route::parse("/metrics").cache_kind(), None);
        assert_eq!(Route::parse("/nix-cache-info"), Route::CacheInfo);
        assert_eq!(Route::parse("/abc.narinfo"), Route::Narinfo("abc"));
        assert_eq!(Route::parse("/nar/x.nar"), Route::Nar("x.nar"));
        assert_eq!(Route::parse("/log/x.drv"), Route::Log("x.drv"));
        assert_eq!(Route::parse("/api/v1/jobs/3/log"), Route::JobLog("3"));
        assert_eq!(
            Route::parse("/api/v1/hosts/laptop/report"),
            Route::HostReport("laptop")
        );
        assert_eq!(
            Route::parse("/api/v1/hosts/laptop/pin"),
            Route::HostPin("laptop")
        );
        assert_eq!(Route::parse("/api/v1/fleet/pin"), Route::FleetPin);
        assert_eq!(
            Route::parse("/api/v1/webhooks/forgejo"),
            Route::Webhook(Forge::Forgejo)
        );
        assert_eq!(
            Route::parse("/api/v1/paths//nix/store/x-y"),
            Route::Path("/nix/store/x-y")
        );
        assert!(Route::parse("/api/v1/paths/abc").is_api());
        assert_eq!(Route::parse("/api/v2/jobs"), Route::Unknown { api: true });
        assert_eq!(Route::parse("/elsewhere"), Route::Unknown { api: false });
        assert!(Route::parse("/api/v1/nope").is_api());
        assert!(!Route::parse("/nar/x").is_api());
    }
}
