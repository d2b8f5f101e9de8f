//! The one HTTP client every call to a provider goes through (discovery, JWKS, token,
//! userinfo, emails): no redirects, bounded in time, and bounded in size: a body is read in
//! chunks and the call fails as soon as it passes `upstream.max_response_bytes`, so a
//! provider cannot make us buffer more than that.
//!
//! [`HttpClient`] implements the `AsyncHttpClient` trait of `oauth2` (which `openidconnect`
//! uses too); those crates are built without their own reqwest support, so a bare
//! `reqwest::Client` cannot be handed to them by mistake.
use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use ::oauth2::{HttpRequest, HttpResponse};
use serde_json::Value;

use super::egress::{self, GuardedResolver};
use crate::config::{InternalHosts, UpstreamSettings};

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL names an internal address (see `egress`).
    #[error("{0}")]
    Refused(String),
    #[error("the answer is larger than {0} bytes (upstream.max_response_bytes)")]
    TooLarge(usize),
    #[error(transparent)]
    Request(#[from] reqwest::Error),
    #[error("{0}")]
    Invalid(String),
}

/// A status, headers and a body read within the size limit.
pub struct Answer {
    pub status: reqwest::StatusCode,
    pub version: reqwest::Version,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

#[derive(Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    max_bytes: usize,
    hosts: Arc<InternalHosts>,
}

impl HttpClient {
    /// # Errors
    /// The HTTP client cannot be built (TLS roots).
    pub fn new(settings: &UpstreamSettings) -> anyhow::Result<Self> {
        let inner = reqwest::Client::builder()
            // Following redirects would let a provider point our requests anywhere (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
            .timeout(Duration::from_millis(settings.timeout_ms))
            .user_agent(concat!("Gatehouse/", env!("CARGO_PKG_VERSION")))
            // A proxy would resolve names itself, past the resolver's address checks.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver::new(settings.allowed_internal_hosts.clone())))
            .build()?;
        Ok(Self {
            inner,
            max_bytes: settings.max_response_bytes,
            hosts: Arc::new(settings.allowed_internal_hosts.clone()),
        })
    }

    /// Sends `request` and reads its body, at most `upstream.max_response_bytes` of it.
    ///
    /// # Errors
    /// The URL names an internal address, the request failed or timed out, or the body is
    /// too large.
    pub async fn send(&self, request: reqwest::Request) -> Result<Answer, HttpError> {
        // IP-literal hosts never reach the resolver.
        egress::check_literal(request.url(), &self.hosts)
            .map_err(|why| HttpError::Refused(format!("{}: {why}", request.url())))?;
        let mut resp = self.inner.execute(request).await?;
        if resp.content_length().is_some_and(|n| n > self.max_bytes as u64) {
            return Err(HttpError::TooLarge(self.max_bytes));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(HttpError::TooLarge(self.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer { status: resp.status(), version: resp.version(), headers: resp.headers().clone(), body })
    }

    /// A JSON document from an API that takes a bearer token (user-info, email lists).
    ///
    /// # Errors
    /// See [`HttpClient::send`]; a status other than 2xx or a body that is not JSON.
    pub async fn get_json(&self, url: &str, bearer: &str) -> Result<Value, HttpError> {
        let request = self
            .inner
            .get(url)
            .bearer_auth(bearer)
            .header(reqwest::header::ACCEPT, "application/json")
            .build()?;
        let answer = self.send(request).await?;
        if !answer.status.is_success() {
            return Err(HttpError::Invalid(format!("answered {}", answer.status)));
        }
        serde_json::from_slice(&answer.body).map_err(|_| HttpError::Invalid("did not answer JSON".into()))
    }
}

impl<'c> ::oauth2::AsyncHttpClient<'c> for HttpClient {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + Sync + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let answer = self.send(reqwest::Request::try_from(request)?).await?;
            let mut builder =
                ::oauth2::http::Response::builder().status(answer.status).version(answer.version);
            for (name, value) in &answer.headers {
                builder = builder.header(name, value);
            }
            builder.body(answer.body).map_err(|e| HttpError::Invalid(e.to_string()))
        })
    }
}
