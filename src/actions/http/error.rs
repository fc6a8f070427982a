//! HTTP errors as an operator reads them.

/// An HTTP error with its causes ("error sending request: connection refused"),
/// without the URL, which may carry a token.
pub(crate) fn http_error(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
