//! A response that sets more than one cookie: poem-openapi writes one value per header field,
//! so the extra `Set-Cookie` values (a remember-device cookie beside the device cookie) are
//! appended here. The spec is the wrapped response's.
use poem::{IntoResponse, Response, http::HeaderValue, http::header::SET_COOKIE};
use poem_openapi::{ApiResponse, registry::MetaResponses, registry::Registry};

/// `T`, plus these `Set-Cookie` values.
pub struct WithCookies<T>(pub T, pub Vec<String>);

impl<T: ApiResponse> ApiResponse for WithCookies<T> {
    fn meta() -> MetaResponses {
        T::meta()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: IntoResponse> IntoResponse for WithCookies<T> {
    fn into_response(self) -> Response {
        let mut resp = self.0.into_response();
        for cookie in self.1 {
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                resp.headers_mut().append(SET_COOKIE, v);
            }
        }
        resp
    }
}
